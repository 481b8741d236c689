#!/bin/sh
# Debian's arm64 node, unpacked into a directory that qemu-aarch64 uses as its sysroot, so that
# the linux-arm64 prebuild can be loaded on an x86-64 machine (test/packaging.test.ts). Nothing
# is installed: installing nodejs:arm64 would replace the machine's node. Needs root (it adds the
# arm64 architecture to dpkg and updates apt's lists once); about 25 MB to download.
#
# Usage: scripts/arm64-node-sysroot.sh          build it (when missing) and print its directory
#        scripts/arm64-node-sysroot.sh --dir    only print where it is (or would be)
set -eu
dir="${STACKSHOT_ARM64_SYSROOT:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/stackshot/arm64-node}"
if [ "${1:-}" = "--dir" ] || [ -x "$dir/usr/bin/node" ]; then
  echo "$dir"
  exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  apt-get update -qq
fi
# node, the shared libraries it links (libc, libstdc++ and libgcc too: the sysroot needs no cross
# toolchain), and the JavaScript packages Debian's node loads its externalized builtins from.
pkgs="nodejs:arm64 libnode108:arm64 libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libbrotli1:arm64
  libc-ares2:arm64 libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 libuv1:arm64 zlib1g:arm64
  node-acorn node-cjs-module-lexer node-undici"

debs=$(mktemp -d)
chmod 755 "$debs" # apt downloads as _apt
tmp="$dir.$$.tmp"
trap 'rm -rf "$debs" "$tmp"' EXIT
# shellcheck disable=SC2086
(cd "$debs" && apt-get download -qq $pkgs)
mkdir -p "$tmp"
for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$tmp"; done
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$tmp" "$dir"
echo "$dir"
