"""Host-app integrations: FastAPI, Flask, and the dashboard page they serve.

- :mod:`wagate.integrations.fastapi`: an ``APIRouter`` or a whole app;
- :mod:`wagate.integrations.flask`: a ``Blueprint``.

Both serve the same routes, statuses and payloads (their logic is written once,
in ``_rest``).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["dashboard_html"]


@lru_cache(maxsize=2)
def dashboard_html(*, simulator: bool = False) -> str:
    """The dashboard page, with the simulated-phone panel when ``simulator`` is on."""
    page = resources.files(__package__).joinpath("static/index.html").read_text("utf-8")
    return page.replace("{{SIMULATOR}}", "true" if simulator else "false")
