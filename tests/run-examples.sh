#!/usr/bin/env bash
# Runs every scenario of examples/ against a complete platform on swtpm (the same setup
# as the demo). Each scenario checks its own expected verdicts and exits non-zero on the
# first one that does not hold. Usage: run-examples.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1 src=$2
work=$(mktemp -d /tmp/srtm-examples-XXXXXX)
PLATFORM_QUIET=1
source "$src/scripts/lib/platform.sh"
trap 'platform_stop; rm -rf "$work"' EXIT
platform_start "$build" "$work" || { echo "examples: the platform did not start"; exit 1; }
passed=0 failed=0
for scenario in "$src"/examples/*.sh; do
  name=$(basename "$scenario")
  [ "$name" = lib.sh ] && continue
  if bash "$scenario" >"$work/$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/    /' "$work/$name.log"
  fi
done
echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
