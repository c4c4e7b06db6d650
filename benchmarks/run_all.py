"""Every figure of wagate's performance, one script after another, in one command.

Run (PostgreSQL and Redis on 127.0.0.1, ``node`` and ``npm`` installed)::

    .venv/bin/python -P benchmarks/run_all.py
    .venv/bin/python -P benchmarks/run_all.py --only versus_node,http_api

Each part is a script of this folder run with its own defaults, as its docstring
describes; each prints its figures next to the baseline it measures in the same
run, as ratios.  The parts run one at a time (two would share the CPUs and spoil
each other's figures); what each prints is passed through as it comes, under a
heading, and the time each took is listed at the end.

1. ``versus_node``: Socket.IO and SSE against a Node socket.io 4 server and bare
   python-socketio, with the same Node clients; deliveries/s, p50/p99.
2. ``scale``: 2,000 SSE streams resuming with ``Last-Event-ID`` while 1,000
   tenants publish (exact counts, drain time against live); a QR's latency to the
   page with 1,000 tenants waiting and 2,000 streams open, against one and one.
3. ``cluster``: the Redis backplane across two processes against raw pipelined
   ``XADD`` + ``XREAD``; cross-process latency at today's rate and at 10x.
4. ``http_api``: ``POST /api/send`` and ``GET /status`` against bare Starlette
   routes doing the same work.
5. ``memory``: RSS per idle linked tenant at 1,000 and 10,000, per open SSE and
   Socket.IO connection at 1,000 and 10,000; start-up with 10,000 linked tenants
   restored against 1,000.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PARTS: dict[str, list[str]] = {
    "versus_node": [],
    "scale": [],
    "cluster": ["--only", "throughput,latency"],
    "http_api": [],
    "memory": ["--site-connections", "100"],
}
"""Each part: the script's name and the options it runs with here."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"parts to run, comma-separated ({','.join(PARTS)})"
    )
    args = parser.parse_args()
    chosen = args.only.split(",")
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}; the parts are {', '.join(PARTS)}")
    print(
        f"wagate benchmarks: {', '.join(chosen)}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}",
        flush=True,
    )
    took: dict[str, tuple[float, int]] = {}
    for name in chosen:
        print(
            f"\n{'=' * 78}\n{name}: {' '.join(PARTS[name]) or '(defaults)'}\n{'=' * 78}", flush=True
        )
        start = time.monotonic()
        script = os.path.join(HERE, f"{name}.py")
        code = subprocess.run([sys.executable, "-P", script, *PARTS[name]], check=False).returncode
        took[name] = (time.monotonic() - start, code)
    print(f"\n{'=' * 78}\nparts")
    for name, (seconds, code) in took.items():
        state = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"  {name:<12} {seconds:6.0f} s  {state}")
    sys.exit(max((code for _, code in took.values()), default=0) and 1)


if __name__ == "__main__":
    main()
