#!/bin/sh
# Regenerates the worked example of docs/evidence.md: new evidence files in
# tests/data/example/ (new ECDSA signatures; everything else is deterministic), then the
# document's hex blocks from them. Run from the source tree after `scripts/build build`:
#   tests/data/regenerate-example.sh [BUILD_DIR]
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
"$build/tests/make-example" "$src/tests/data/example"
python3 "$src/tests/data/verify-example.py" --update-doc "$src/docs/evidence.md" \
    "$src/tests/data/example/evidence.bin" "$src/tests/data/example/evidence-batch.bin"
