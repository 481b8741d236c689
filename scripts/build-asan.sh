#!/bin/sh
# Builds the native addon with AddressSanitizer and UndefinedBehaviorSanitizer into a separate
# tree, so the normal build (build/Release) is untouched:
#
#   scripts/build-asan.sh [--out DIR] [--test [TEST_FILE...]]
#                                        (default DIR: ${TMPDIR:-/tmp}/stackshot-asan)
#
# DIR gets build/Release/stackshot.node (sanitized), dist/ (a copy of the compiled TypeScript,
# whose addon loader looks in ../build/Release), src/, test/, the vitest and tsc configs,
# node_modules (a symlink to ours) and package.json: the whole package, with the sanitized
# addon in the place node-gyp-build looks. So `require("DIR/dist/index.js")` uses it, and so do
# the tests when vitest runs in DIR (src/addon.ts loads DIR/build/Release/stackshot.node).
#
# --test runs vitest in DIR under the sanitizers on the given test files (default: the
# native-heavy ones below) and fails if a sanitizer reported anything.
#
# Run node with the ASan runtime preloaded (an ASan .node cannot be dlopen'ed otherwise):
#   LD_PRELOAD="$(g++ -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0 \
#     UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 node -e 'require("OUT/dist/index.js")...'
# (detect_leaks=0: node itself does not free everything at exit.)
#
# node-gyp is not used: it would need a second build directory and still compiles with its own
# -O3 flags; the sources and defines are taken from binding.gyp so the two builds stay in step.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${TMPDIR:-/tmp}/stackshot-asan
RUN_TESTS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --test) RUN_TESTS=1; shift; break ;;
    *) echo "usage: scripts/build-asan.sh [--out DIR] [--test [TEST_FILE...]]" >&2; exit 2 ;;
  esac
done
CXX=${CXX:-g++}
JOBS=${JOBS:-$(nproc)}

ARCH=$(node -p process.arch)
SOURCES=$(cd "$ROOT" && node -e '
  const gyp = JSON.parse(require("fs").readFileSync("binding.gyp", "utf8"));
  const t = gyp.targets[0];
  const arch = process.arch;
  const extra = (t.conditions || []).filter(([c]) => c === `target_arch==\x27${arch}\x27`).flatMap(([, v]) => v.sources || []);
  console.log([...t.sources, ...extra].join("\n"));
')
NAPI_INC=$(cd "$ROOT" && node -p "require('node-addon-api').include_dir")
NODE_INC=$(node -p "require('path').resolve(process.execPath, '..', '..', 'include', 'node')")
[ -f "$NODE_INC/node_api.h" ] || { echo "build-asan: no node headers in $NODE_INC (install nodejs-dev / libnode-dev)" >&2; exit 1; }

FLAGS="-std=c++17 -O1 -g -fPIC -fexceptions -fno-omit-frame-pointer -Wall -Wextra
  -fsanitize=address,undefined -fno-sanitize-recover=undefined
  -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED -DNODE_GYP_MODULE_NAME=stackshot -DBUILDING_NODE_EXTENSION
  -I$ROOT/$NAPI_INC -I$NAPI_INC -I$ROOT/native -I$NODE_INC"

rm -rf "$OUT/obj"
mkdir -p "$OUT/obj" "$OUT/build/Release"
echo "build-asan: compiling $(echo "$SOURCES" | wc -l) sources ($ARCH) into $OUT" >&2
# Compile in parallel, JOBS at a time; objects are named after their source paths.
n=0
OBJS=""
for src in $SOURCES; do
  obj="$OUT/obj/$(echo "$src" | tr / _).o"
  OBJS="$OBJS $obj"
  # shellcheck disable=SC2086
  (cd "$ROOT" && $CXX $FLAGS -c "$src" -o "$obj") &
  n=$((n + 1))
  if [ $((n % JOBS)) -eq 0 ]; then wait; fi
done
wait
for obj in $OBJS; do [ -f "$obj" ] || { echo "build-asan: compiling failed (see above)" >&2; exit 1; }; done
# shellcheck disable=SC2086
$CXX -shared -fsanitize=address,undefined -o "$OUT/build/Release/stackshot.node.tmp" $OBJS -lpthread
mv "$OUT/build/Release/stackshot.node.tmp" "$OUT/build/Release/stackshot.node"

# The TypeScript side: a copy of dist/ (built if missing), our node_modules, package.json.
if [ ! -f "$ROOT/dist/index.js" ]; then (cd "$ROOT" && npx tsc -p tsconfig.json); fi
rm -rf "$OUT/dist.tmp"
cp -R "$ROOT/dist" "$OUT/dist.tmp"
rm -rf "$OUT/dist"
mv "$OUT/dist.tmp" "$OUT/dist"
ln -sfn "$ROOT/node_modules" "$OUT/node_modules"
cp "$ROOT/package.json" "$OUT/package.json"
for f in src test; do rm -rf "$OUT/$f"; cp -R "$ROOT/$f" "$OUT/$f"; done
cp "$ROOT/vitest.config.mts" "$ROOT/tsconfig.json" "$ROOT/binding.gyp" "$OUT/"
ln -sfn "$ROOT/native" "$OUT/native"  # tests that compile native drivers read the sources
echo "$OUT/build/Release/stackshot.node"
[ "$RUN_TESTS" = 1 ] || exit 0

# Native-heavy tests: live captures (both schedules, thread churn, signals, exits), crafted
# stacks and mutated CFI tables fed to the unwinder, offline captures, hostile xz streams,
# hostile names fed to the demangler, return-site analysis on live stacks.
[ $# -gt 0 ] || set -- test/reliability-hostile.test.ts test/reliability-churn.test.ts test/snapshot.test.ts test/perf-capture.test.ts test/record-perf.test.ts test/signals.test.ts test/capture-file.test.ts test/cfi.test.ts test/mini-debuginfo.test.ts test/demangle-hostile.test.ts test/symbolize-differential.test.ts
LOG="$OUT/asan-test.log"
echo "build-asan: running $* under ASan+UBSan (log: $LOG)" >&2
ASAN_LIB=$($CXX -print-file-name=libasan.so)
# Proof that the sanitized addon is the one loaded (and the ASan runtime with it).
(cd "$OUT" && LD_PRELOAD="$ASAN_LIB" ASAN_OPTIONS=detect_leaks=0 node -e '
  require("./src/../dist/addon.js");
  const maps = require("fs").readFileSync("/proc/self/maps", "utf8");
  const want = require("path").resolve("build/Release/stackshot.node");
  if (!maps.includes(want) || !/libasan/.test(maps)) { console.error("build-asan: the sanitized addon was not loaded"); process.exit(1); }
')
set +e
(cd "$OUT" && LD_PRELOAD="$ASAN_LIB" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:print_summary=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  STACKSHOT_ASAN_BUILD=1 \
  node node_modules/vitest/vitest.mjs run "$@") > "$LOG" 2>&1
status=$?
set -e
tail -n 25 "$LOG"
if grep -q -E "ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer" "$LOG"; then
  echo "build-asan: a sanitizer reported an error (see $LOG)" >&2
  exit 1
fi
exit $status
