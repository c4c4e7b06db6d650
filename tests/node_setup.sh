#!/usr/bin/env bash
# Install the Node packages the Socket.IO recovery tests drive: a stock socket.io-client,
# pinned by tests/node/package-lock.json.  Run by `nox -s tests` (and so by .ci/run).
# Node.js itself comes from Debian's packages when it is missing (as root, or with
# sudo); without it this only says so: those tests then skip, or fail under
# WAGATE_REQUIRE_SERVICES=1.
set -euo pipefail

here=$(cd "$(dirname "$0")/node" && pwd)

have_node() { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }

if ! have_node && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    fi
    if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
        echo "node_setup: installing Debian's nodejs and npm"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
    fi
fi

if ! have_node; then
    echo "node_setup: node and npm are missing; install Node.js 18 or newer (Debian: apt-get install nodejs npm)" >&2
    exit 0
fi

echo "node_setup: node $(node --version), installing $here/package-lock.json"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
