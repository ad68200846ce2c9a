#!/usr/bin/env bash
# device-prepare.sh: builds and gathers here (Debian 12, x86-64) everything
# tests/bench/device-check.sh needs on a bare GPU machine, into .gl/ (ignored
# by git, about 15 MB), so that one folder carries it:
#
#   tests/bench/device-prepare.sh          # from the repository root
#
#   build-gpu/           cmake -DFB_BRAIN_ONLY=OFF, RelWithDebInfo (the binaries below)
#   .gl/bin/             fieldbrain, fieldbrain-ping, fieldbrain-bench, fieldbrain-compare,
#                        test_brain_vk, test_bounds_vk
#   .gl/loader/*.deb     the Vulkan loader and GL dispatch libraries
#   .gl/extra/*.deb      the Khronos validation layer; libzmq, libyaml, libstb and
#                        what they need that a machine without Debian lacks
#   .gl/fallback/*.deb   libstdc++ and libgcc_s, used only where the machine has none
#
# The packages are Debian 12's, downloaded with apt-get (amd64) into /tmp;
# nothing is installed here. Run it again after changing the code: the build
# is incremental and packages already downloaded are kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build-gpu}
gl=.gl

cmake -S . -B "$build" -DFB_BRAIN_ONLY=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target fieldbrain fieldbrain-ping fieldbrain-bench \
    fieldbrain-compare test_brain_vk test_bounds_vk
mkdir -p "$gl/bin" "$gl/loader" "$gl/extra" "$gl/fallback"
for b in fieldbrain fieldbrain-ping fieldbrain-bench fieldbrain-compare tests/test_brain_vk tests/test_bounds_vk; do
    # debug sections off: the carried tree is limited in size
    objcopy --strip-debug "$build/$b" "$gl/bin/$(basename "$b")"
done

# The loader set is the one every GPU run of this workplace unpacks; the
# rest is what `ldd` of the binaries and of the layer names beyond glibc.
loader="libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2"
extra="vulkan-validationlayers libzmq5 libyaml-0-2 libstb0 libsodium23 libbsd0 libmd0 libnorm1
       libpgm-5.3-0 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1"
fallback="libstdc++6 libgcc-s1"
lists=/tmp/amd64
mkdir -p "$lists/partial"
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$lists")
[ -n "$(ls "$lists"/*Packages* 2>/dev/null)" ] || apt-get "${o[@]}" update >/dev/null
fetch() {
    local dir=$1
    shift
    for p in "$@"; do
        ls "$dir/${p}_"*.deb >/dev/null 2>&1 || (cd "$dir" && apt-get "${o[@]}" download "$p" >/dev/null)
    done
}
# shellcheck disable=SC2086
fetch "$gl/loader" $loader
# shellcheck disable=SC2086
fetch "$gl/extra" $extra
# shellcheck disable=SC2086
fetch "$gl/fallback" $fallback

# Every library the binaries and the layer load must come from glibc, the
# fallback set or a carried package: a new dependency fails here, not there.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$gl"/loader/*.deb "$gl"/extra/*.deb "$gl"/fallback/*.deb; do
    dpkg-deb --contents "$f" | awk '{print $6}' | sed -n 's|.*/\(lib[^/]*\.so[^/]*\)$|\1|p'
done | sort -u > "$tmp/carried"
for b in "$gl"/bin/* /usr/lib/x86_64-linux-gnu/libVkLayer_khronos_validation.so; do
    ldd "$b" | awk '/=>/ {print $1}'
done | sort -u > "$tmp/needed"
missing=$(grep -v -x -f "$tmp/carried" "$tmp/needed" |
          grep -v -E '^(libc|libm|libdl|librt|libpthread|libresolv|ld-linux-x86-64)\.so' || true)
if [ -n "$missing" ]; then
    echo "device-prepare.sh: libraries neither in glibc nor carried: $missing" >&2
    exit 1
fi
du -sh "$gl"
