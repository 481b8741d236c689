#!/bin/sh
# clang-format over the addon's C++ (native/), the native test tools (test/native/) and the fuzz
# targets (test/fuzz/).
# Test fixtures (test/fixtures/) are inputs shaped for their tests and are left as written.
# Usage: scripts/clang-format.sh [--check]
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format: not installed (apt-get install clang-format)" >&2; exit 1; }
files=$(find native test/native test/fuzz -type f \( -name '*.cc' -o -name '*.h' -o -name '*.c' \) | sort)
if [ "${1:-}" = "--check" ]; then
  # shellcheck disable=SC2086
  clang-format --dry-run --Werror $files
else
  # shellcheck disable=SC2086
  clang-format -i $files
fi
