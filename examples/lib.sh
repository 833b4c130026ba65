# Helpers for the example scenarios: register components, measure, declare the
# verifier's allowlists, take a joint quote and check the verdicts against what the
# scenario expects. Needs the environment of scripts/lib/platform.sh.
set -euo pipefail
: "${SRTM_DEMO_DIR:?run the examples through scripts/demo or tests/run-examples.sh}"
SCEN="$SRTM_DEMO_DIR/$(basename "$0" .sh)"
mkdir -p "$SCEN/allow"
cp "$SRTM_REFERENCE" "$SCEN/reference.json"

ctl() { "${SRTMCTL:-srtmctl}" "$@"; }
say() { printf '\n== %s\n' "$*"; }
capfile() { printf '%s/%s.cap' "$SRTM_DEMO_DIR" "$1"; }
pathfile() { printf '%s/%s.path' "$SRTM_DEMO_DIR" "$1"; }
# path NAME: the component's path from the platform, as the verifier names it.
path() { if [ "$1" = platform ]; then echo platform; else cat "$(pathfile "$1")"; fi; }

# reg NAME PARENT [srtmctl register options]: PARENT registers NAME (platform: the admin).
reg() {
  local name=$1 parent=$2
  shift 2
  rm -f "$(capfile "$name")"
  printf '%s/%s\n' "$(path "$parent")" "$name" >"$(pathfile "$name")"
  if [ "$parent" = platform ]; then
    ctl --cap "$SRTM_ADMIN_CAP" register "$name" --cap-out "$(capfile "$name")" "$@" >/dev/null
  else
    ctl --cap "$(capfile "$parent")" register "$name" --parent "$parent" \
      --cap-out "$(capfile "$name")" "$@" >/dev/null
  fi
}

# measure NAME CCR TEXT: NAME measures TEXT (hashed locally) into its CCR; prints the seq.
measure() {
  ctl --cap "$(capfile "$1")" extend "$1" "$2" --data "$3" --desc "$3" | awk '{print $2}'
}

# allow NAME CCR TEXT...: the verifier accepts these measurements for that CCR.
allow() {
  local name=$1 ccr=$2 t
  shift 2
  for t in "$@"; do
    printf '%s' "$t" | sha256sum | cut -d' ' -f1 >>"$SCEN/allow/$name.$ccr"
  done
}

# verdicts NAME...: a joint quote about NAME... (their dependency closures included),
# checked by the verifier against the AIK, the reference PCRs and the allowlists. The
# policy names each component by its path; components the scenario declares no
# allowlist for are judged by their replay alone.
verdicts() {
  python3 - "$SCEN" "$SRTM_DEMO_DIR" <<'PY'
import glob, json, os, sys
scen, demo = sys.argv[1], sys.argv[2]
comps = {}
for f in sorted(glob.glob(os.path.join(scen, "allow", "*"))):
    name, ccr = os.path.basename(f).rsplit(".", 1)
    path = open(os.path.join(demo, name + ".path")).read().strip()
    digests = sorted(set(open(f).read().split()))
    comps.setdefault(path, {"ccrs": {}})["ccrs"][ccr] = {"allowed_digests": digests}
json.dump({"format": "srtm-policy-v1", "aik": {"scheme": "ecdsa-sha256"},
           "pcrs": {"reference_file": "reference.json"}, "components": comps,
           "unlisted": "replay-only"},
          open(os.path.join(scen, "policy.json"), "w"), indent=1)
PY
  local nonce
  nonce=$(openssl rand -hex 20)
  ctl quote --nonce "$nonce" -o "$SCEN/evidence.bin" "$@" >/dev/null
  ctl verify "$SCEN/evidence.bin" --aik "$SRTM_AIK_PEM" --policy "$SCEN/policy.json" \
    --nonce "$nonce" >"$SCEN/verdicts.txt" || true
  sed 's/^/  verdict: /' "$SCEN/verdicts.txt"
}

# expect NAME trusted | expect NAME untrusted [TEXT]: check the last verdicts (each line
# starts with the component's path).
expect() {
  local name want=$2 text=${3:-}
  name=$(path "$1")
  local line
  line=$(grep -E "^$name: (trusted|untrusted)" "$SCEN/verdicts.txt" || true)
  case "$want" in
    trusted) [ "$line" = "$name: trusted" ] && return 0 ;;
    untrusted) case "$line" in "$name: untrusted"*"$text"*) return 0 ;; esac ;;
  esac
  echo "EXPECTATION FAILED in $(basename "$0"): $name should be $want${text:+ ($text)}; got: ${line:-no verdict}" >&2
  exit 1
}
