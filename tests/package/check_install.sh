#!/usr/bin/env bash
# Installs a uffdgc build tree into a scratch prefix, then, from outside the tree:
#  1. compiles every installed public header alone (C11 for the C headers, C++20 for all) with
#     strict warnings;
#  2. builds the consumer project with find_package(uffdgc): the kernel-probe example, the C
#     embedding (examples/embedding.c) and the C++ embedding (examples/embedding.cc, uffdgc.hpp),
#     each against the shared and the static library, and runs them;
#  3. builds the same three programs with pkg-config and plain cc / c++, and runs them.
# usage: check_install.sh <uffdgc-build-dir> <consumer-source-dir> <scratch-dir>
set -euo pipefail
build=$1 consumer=$2 scratch=$3
examples=$consumer/../../../examples
rm -rf "$scratch" && mkdir -p "$scratch"
prefix=$scratch/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
# Sanitized builds need the sanitizer flags to link; take them from the build's cache.
flags=$(sed -n 's/^UFFDGC_SANITIZE:STRING=//p' "$build/CMakeCache.txt")
san=()
extra=()
if [[ -n $flags ]]; then
  san=(-fsanitize=$flags)
  extra=(-DCMAKE_C_FLAGS=-fsanitize=$flags -DCMAKE_CXX_FLAGS=-fsanitize=$flags
         -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$flags)
fi
# A short run of each embedding: the point is that it links, runs and checks its graph. The
# collector modes themselves are tested elsewhere (example.* and the heap tests run the
# default mode), so this packaging test pins the mode that needs no kernel support.
run_args=(--iterations=20000 --mode=stw)
strict=(-Wall -Wextra -Wpedantic -Wshadow -Werror)

# 1. Each public header on its own.
for h in "$prefix"/include/uffdgc/*.h "$prefix"/include/uffdgc/*.hpp; do
  name=uffdgc/$(basename "$h")
  if [[ $h == *.h ]]; then
    printf '#include <%s>\nint main(void) { return 0; }\n' "$name" |
      cc -std=c11 "${strict[@]}" -I"$prefix/include" -x c - -fsyntax-only
  fi
  printf '#include <%s>\nint main() { return 0; }\n' "$name" |
    c++ -std=c++20 "${strict[@]}" -I"$prefix/include" -x c++ - -fsyntax-only
done
# The C++ layer without exceptions, and with its opt-in exception helpers.
printf '#include <uffdgc/uffdgc.hpp>\nint main() { return 0; }\n' |
  c++ -std=c++20 "${strict[@]}" -fno-exceptions -I"$prefix/include" -x c++ - -fsyntax-only
printf '#include <uffdgc/uffdgc.hpp>\nint main() { return uffdgc::Status().ok() ? 0 : 1; }\n' |
  c++ -std=c++20 "${strict[@]}" -DUFFDGC_HPP_EXCEPTIONS -I"$prefix/include" -x c++ - -fsyntax-only

# 2. find_package, shared and static.
cmake -S "$consumer" -B "$scratch/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
for link in shared static; do
  export LD_LIBRARY_PATH=$prefix/lib
  "$scratch/consumer/consumer_$link"
  "$scratch/consumer/embedding_c_$link" "${run_args[@]}"
  "$scratch/consumer/embedding_cxx_$link" "${run_args[@]}"
  unset LD_LIBRARY_PATH
done

# 3. pkg-config with plain compiler drivers (links the shared library).
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH=$libdir
read -r -a pc <<<"$(pkg-config --cflags --libs uffdgc)"
cc -std=c11 "${strict[@]}" "$examples/choose_mode.c" -o "$scratch/consumer_pc" "${pc[@]}" "${san[@]}"
cc -std=c11 "${strict[@]}" "$examples/embedding.c" -o "$scratch/embedding_c_pc" "${pc[@]}" -pthread "${san[@]}"
c++ -std=c++20 "${strict[@]}" "$examples/embedding.cc" -o "$scratch/embedding_cxx_pc" "${pc[@]}" -pthread "${san[@]}"
export LD_LIBRARY_PATH=$(dirname "$libdir")
"$scratch/consumer_pc"
"$scratch/embedding_c_pc" "${run_args[@]}"
"$scratch/embedding_cxx_pc" "${run_args[@]}"
echo "package check: headers alone; find_package (shared, static) and pkg-config consumers of" \
     "the probe, the C embedding and the C++ embedding built and ran"
