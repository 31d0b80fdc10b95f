#!/usr/bin/env bash
# Installs a uffdgc build tree into a scratch prefix, then builds and runs an outside consumer
# with find_package(uffdgc) (shared and static) and with pkg-config.
# usage: check_install.sh <uffdgc-build-dir> <consumer-source-dir> <scratch-dir>
set -euo pipefail
build=$1 consumer=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch"
prefix=$scratch/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
# Sanitized builds need the sanitizer flags to link; take them from the build's cache.
flags=$(sed -n 's/^UFFDGC_SANITIZE:STRING=//p' "$build/CMakeCache.txt")
extra=()
if [[ -n $flags ]]; then
  extra=(-DCMAKE_C_FLAGS=-fsanitize=$flags -DCMAKE_CXX_FLAGS=-fsanitize=$flags
         -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$flags)
fi
cmake -S "$consumer" -B "$scratch/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
LD_LIBRARY_PATH=$prefix/lib "$scratch/consumer/consumer_shared"
"$scratch/consumer/consumer_static"
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH=$libdir
cc "$consumer/../../../examples/choose_mode.c" -o "$scratch/consumer_pc" $(pkg-config --cflags --libs uffdgc) ${flags:+-fsanitize=$flags}
LD_LIBRARY_PATH=$(dirname "$libdir") "$scratch/consumer_pc"
echo "package check: find_package (shared, static) and pkg-config consumers ran"
