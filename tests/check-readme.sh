#!/usr/bin/env bash
# Run README.md's usage blocks exactly as written: the three ```sh blocks after the line
# that names this script, in one shell, against srtmd on a swtpm whose socket and admin
# capability are where the README says (/run/srtm), in a private mount namespace (a tmpfs
# on /run/srtm, so the host's is never touched). Usage: check-readme.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
b=$(realpath "$1") src=$(realpath "$2")

if [ "${SRTM_README_NS:-0}" != 1 ]; then
  if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
    echo "check-readme: needs root and mount namespaces (unshare -m); skipped" >&2
    exit 77
  fi
  mkdir -p /run/srtm
  exec env SRTM_README_NS=1 unshare -m --propagation private "$0" "$@"
fi

mount -t tmpfs -o mode=0755 srtm-readme /run/srtm
work=$(mktemp -d /tmp/srtm-readme-XXXXXX)
source "$src/scripts/lib/platform.sh"
trap 'platform_stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
PLATFORM_QUIET=1 PLATFORM_RUN_DIR=/run/srtm platform_start "$b" "$work"
unset SRTM_SOCKET   # the README relies on libsrtm's default socket
export PATH="$b/client-lib:$PATH"

# The directory the README describes: the inputs it names and the enrolment's files.
dir="$work/readme"
mkdir "$dir"
for f in vm-web.img dm.img fw-rules-v1 fw-rules-v2; do printf 'contents of %s\n' "$f" >"$dir/$f"; done
cp "$SRTM_AIK_PEM" "$dir/aik.pem"
cp "$SRTM_REFERENCE" "$dir/reference.json"

# The three blocks after the marker line, verbatim.
awk '/tests\/check-readme.sh` runs the three blocks/ {on = 1; next}
     on && /^```sh$/ {inblock = 1; n++; next}
     inblock && /^```$/ {inblock = 0; if (n == 3) exit; next}
     inblock {print}' "$src/README.md" >"$work/readme.sh"
[ "$(grep -c . "$work/readme.sh")" -ge 15 ] || { echo "check-readme: README blocks not found" >&2; exit 1; }

cd "$dir"
if ! bash -euo pipefail "$work/readme.sh" >"$work/out.txt" 2>"$work/err.txt"; then
  echo "check-readme: the README's usage blocks failed:" >&2
  cat "$work/out.txt" "$work/err.txt" >&2
  exit 1
fi
# What the blocks must have produced.
fail=0
check() { if ! eval "$1"; then echo "check-readme: $2" >&2; fail=1; fi; }
check 'grep -q "^0 [0-9a-f]\{64\}$" "$work/out.txt"' "read printed no CCR value"
check 'grep -q "fw-vm" graph.dot' "graph.dot does not show the dependency on fw-vm"
check '[ -s evidence.bin ] && [ -s policy.json ] && [ -s result.jwt ]' "evidence, policy or EAR missing"
check 'grep -qi "trusted" "$work/out.txt" && ! grep -qi "untrusted" "$work/out.txt"' \
  "the verdict of the known-good platform is not trusted"
[ $fail = 0 ] || { cat "$work/out.txt" "$work/err.txt" >&2; exit 1; }
echo "check-readme: README usage blocks ran as written ($(grep -c . "$work/readme.sh") lines)"
