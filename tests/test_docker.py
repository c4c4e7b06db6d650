"""The container files: the Dockerfile, .dockerignore and compose.yaml, and the image itself."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "wagate-test:latest"


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined: ``(KEYWORD, arguments)``."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_dockerfile_runs_as_a_user_and_checks_readiness() -> None:
    """python:3.11-slim, the locked extras, a non-root USER, a HEALTHCHECK on /readyz."""
    steps = _instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    installs = [rest for keyword, rest in steps if keyword == "RUN" and "pip install" in rest]
    extras = [set(re.findall(r"\[([\w,]+)\]", run)[0].split(",")) for run in installs]
    assert any("constraints.txt" in run for run in installs)
    assert any({"fastapi", "redis", "postgres"} <= chosen for chosen in extras)
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    healthchecks = [rest for keyword, rest in steps if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/readyz" in healthchecks[0]
    assert ("ENTRYPOINT", '["wagate"]') in steps


def test_the_dockerignore_keeps_sessions_and_environments_out() -> None:
    """Session data, databases and virtual environments never reach the build."""
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in ("wagate-data/", "*.db", ".venv/", "**/*.db"):
        assert needed in patterns, needed


def _compose_by_text(text: str) -> dict[str, Any]:
    """The services of a compose file, by name, read without a YAML parser (values left out)."""
    services: dict[str, Any] = {}
    section = ""
    for line in text.splitlines():
        if re.match(r"^\S", line) and not line.startswith("#"):
            section = line.split(":")[0]
        elif section == "services" and (match := re.match(r"^  (\w[\w-]*):\s*$", line)):
            services[match.group(1)] = {}
    return {"services": services, "_text": text}


def _compose() -> dict[str, Any]:
    """compose.yaml, parsed with PyYAML when it is installed, else read by a small text check."""
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        return _compose_by_text(text)
    parsed: dict[str, Any] = yaml.safe_load(text)
    parsed["_text"] = text
    return parsed


def test_the_text_check_of_compose_finds_the_services() -> None:
    """Without PyYAML the services are still found, the same ones PyYAML finds."""
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert _compose_by_text(text)["services"].keys() == _compose()["services"].keys()


def test_compose_runs_a_two_process_cluster_on_redis_and_postgres() -> None:
    """compose.yaml: Redis, PostgreSQL and ``wagate serve --workers 2`` on the simulator."""
    compose = _compose()
    services = compose["services"]
    assert {"redis", "postgres", "wagate"} <= services.keys()
    text = compose["_text"]
    assert "--workers" in text and '"2"' in text
    assert "--simulator" in text
    assert "WAGATE_REDIS_URL: redis://redis:6379/0" in text
    assert "WAGATE_DATABASE: postgresql://" in text
    assert "${WAGATE_SECRET:?" in text, "the secret comes from the operator, never the file"
    wagate = services["wagate"]
    if wagate:  # parsed by PyYAML
        assert wagate["command"] == ["serve", "--simulator", "--workers", "2"]
        assert wagate["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert wagate["depends_on"]["redis"]["condition"] == "service_healthy"


def _docker_unavailable() -> str | None:
    """Why the image cannot be built here, or ``None``."""
    if shutil.which("docker") is None:
        return "docker is not installed on this machine"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if info.returncode != 0:
        last = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"the docker daemon is not reachable: {last}"
    return None


def test_the_image_builds_and_runs_as_its_user() -> None:
    """``docker build`` succeeds; the image's wagate runs, not as root."""
    reason = _docker_unavailable()
    if reason is not None:
        pytest.skip(reason)
    build = subprocess.run(
        ["docker", "build", "-t", IMAGE, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    version = subprocess.run(
        ["docker", "run", "--rm", IMAGE, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert version.stdout.startswith("wagate "), version.stdout + version.stderr
    user = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", IMAGE, "-u"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert user.stdout.strip() not in ("", "0"), user.stdout + user.stderr
