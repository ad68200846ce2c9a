#!/bin/sh
# Installs the Debian packages fieldbrain builds, tests and demos with.
# The one list of dependencies: CMake finds them, this script provides them.
# Then the npm packages of the web tests (tests/web/package-lock.json).
# Idempotent and quiet when everything is already there.
set -eu

PACKAGES="
build-essential cmake pkg-config
libvulkan-dev mesa-vulkan-drivers glslc vulkan-validationlayers
libzmq3-dev libyaml-dev libstb-dev
libmujoco-dev libqhull-dev
python3 python3-zmq python3-numpy python3-matplotlib gnuplot-nox
libwebsockets-dev chromium nodejs
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done
# Debian's nodejs comes without npm; a nodejs that brings its own does not
# want Debian's.
command -v npm >/dev/null 2>&1 || missing="$missing npm"

# The web tests' npm packages (a Foxglove WebSocket client, a driver for
# the chromium above), pinned by the lock file; again when it changes.
npm_ci() {
    web=$(dirname "$0")/../tests/web
    stamp=$web/node_modules/.package-lock.json
    if [ ! -f "$stamp" ] || [ "$web/package-lock.json" -nt "$stamp" ]; then
        echo "fieldbrain: installing the web tests' npm packages (tests/web)"
        (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
}
[ -z "$missing" ] && { npm_ci; exit 0; }

echo "fieldbrain: installing missing packages:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "fieldbrain: need root or sudo to install:$missing" >&2
        exit 1
    }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
npm_ci
