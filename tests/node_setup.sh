#!/usr/bin/env bash
# Install the Node packages the Socket.IO recovery tests drive: a stock socket.io-client,
# pinned by tests/node/package-lock.json.  Run by `nox -s tests` (and so by .ci/run).
# Without node or npm it only says so: those tests then skip, or fail under
# WAGATE_REQUIRE_SERVICES=1.
set -euo pipefail

here=$(cd "$(dirname "$0")/node" && pwd)

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node_setup: node and npm are missing; install Node.js 18 or newer (Debian: apt-get install nodejs npm)" >&2
    exit 0
fi

echo "node_setup: node $(node --version), installing $here/package-lock.json"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
