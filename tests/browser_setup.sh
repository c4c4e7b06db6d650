#!/usr/bin/env bash
# Install the browser the dashboard tests drive: Debian's `chromium` package.
#
# Playwright drives /usr/bin/chromium through `executable_path`; it never downloads
# a browser of its own (no `playwright install`).  Run by `nox -s tests` (and so by
# .ci/run).  Without root or apt-get it only says what is missing: the browser tests
# then skip, or fail under WAGATE_REQUIRE_SERVICES=1.
set -euo pipefail

chromium=${WAGATE_TEST_CHROMIUM:-/usr/bin/chromium}

if [ -x "$chromium" ]; then
    echo "browser_setup: $("$chromium" --version 2>/dev/null | head -n 1 || echo "$chromium")"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser_setup: $chromium is missing and apt-get is not available; install Chromium by hand" >&2
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "browser_setup: $chromium is missing; run as root: apt-get install -y chromium" >&2
        exit 0
    fi
fi

echo "browser_setup: installing Debian's chromium"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
"$chromium" --version 2>/dev/null | head -n 1
