#!/bin/sh
# Builds the libFuzzer targets (CMakeLists.txt, through cmake-js, into build-fuzz/) and runs
# each for a bounded time from its seed corpus and its regression inputs:
#
#   npm run fuzz [-- SECONDS [TARGET...]]     (or FUZZ_SECONDS=S; default 60 per target)
#
# Targets are those of test/fuzz/targets.json. New inputs libFuzzer finds go to a scratch
# directory (the committed seed corpus stays small). Fails if any target reports a finding: a
# sanitizer error, a FUZZ_CHECK, a crash, a timeout (> 10 s on one input) or an out-of-memory
# (> 2 GiB). The input is left in build-fuzz/findings/<target>/: fix the code, then keep the
# input as a regression test in test/fuzz/regressions/<target>/ (`npm test` replays those).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_EACH=${1:-${FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
case "$SECONDS_EACH" in ''|*[!0-9]*) echo "usage: npm run fuzz [-- SECONDS [TARGET...]]" >&2; exit 2 ;; esac
TARGETS=${*:-$(node -p 'Object.keys(require("./test/fuzz/targets.json").targets).join(" ")')}
OUT="$ROOT/build-fuzz"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
npx cmake-js build --out "$OUT" --cc clang --cxx clang++ --parallel "${JOBS:-2}" --log-level warn

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/stackshot-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
failed=""
for t in $TARGETS; do
  mkdir -p "$SCRATCH/$t" "$OUT/findings/$t"
  set -- "$ROOT/test/fuzz/corpus/$t"
  [ -d "$ROOT/test/fuzz/regressions/$t" ] && set -- "$@" "$ROOT/test/fuzz/regressions/$t"
  echo "fuzz: $t for ${SECONDS_EACH}s" >&2
  if "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$OUT/findings/$t/" "$SCRATCH/$t" "$@" > "$OUT/findings/$t.log" 2>&1; then
    grep -E '^(Done|stat::peak_rss_mb)' "$OUT/findings/$t.log" | sed "s/^/fuzz: $t: /" >&2
  else
    echo "fuzz: $t FOUND a problem (log: $OUT/findings/$t.log):" >&2
    grep -E 'ERROR|SUMMARY|FUZZ_CHECK|runtime error|Test unit written' "$OUT/findings/$t.log" | head -n 8 >&2
    failed="$failed $t"
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz: findings in:$failed (inputs in $OUT/findings/)" >&2
  exit 1
fi
echo "fuzz: no findings ($(echo $TARGETS | wc -w) targets, ${SECONDS_EACH}s each)" >&2
