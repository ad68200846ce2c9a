#!/bin/sh
# Installs the Debian packages fieldbrain builds, tests and demos with.
# The one list of dependencies: CMake finds them, this script provides them.
# Idempotent and quiet when everything is already there.
set -eu

PACKAGES="
build-essential cmake pkg-config
libvulkan-dev mesa-vulkan-drivers glslc vulkan-validationlayers
libzmq3-dev libyaml-dev libstb-dev
libmujoco-dev libqhull-dev
python3 python3-zmq python3-numpy python3-matplotlib gnuplot-nox
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

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
