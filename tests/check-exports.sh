#!/usr/bin/env bash
# libsrtm exports exactly the functions its public header declares with SRTM_API:
# no internal helper leaks out, no declared function is missing.
set -euo pipefail
lib=$1 header=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort)
declared=$(grep -o 'SRTM_API [^(]*(' "$header" | sed 's/($//; s/.*[ *]//' | grep -v '^__attribute__' | sort)
if [ "$exported" != "$declared" ]; then
  echo "exported but not declared:"; comm -23 <(echo "$exported") <(echo "$declared")
  echo "declared but not exported:"; comm -13 <(echo "$exported") <(echo "$declared")
  exit 1
fi
echo "libsrtm exports the $(echo "$declared" | wc -l) functions of its header, nothing else"
