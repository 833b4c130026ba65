# A complete srtm platform on a software TPM, for the demo and the example tests.
# Source it, then:  platform_start BUILD_DIR WORK_DIR  ...  platform_stop
# platform_start starts swtpm, measures a simulated boot into PCRs 0, 4 and 5, enrols the
# machine with srtm-keymgr (AIK, reference values, wrapped IRK), starts srtmd through
# srtm-launch in one step (proof period included), and exports for the examples:
#   SRTM_SOCKET SRTMCTL SRTM_ADMIN_CAP SRTM_DEMO_DIR SRTM_AIK_PEM SRTM_REFERENCE
#   TPM2TOOLS_TCTI TSS2_LOG
# PLATFORM_RUN_DIR, if set, is where srtmd's socket and admin capability go.
# Messages go to stdout unless PLATFORM_QUIET=1. With PLATFORM_SRTMD_FOREGROUND=1 srtmd runs
# as a child of the calling shell (--foreground) and platform_stop_srtmd returns its exit
# status.

platform_say() { [ "${PLATFORM_QUIET:-0}" = 1 ] || printf '%s\n' "$*"; }

platform_free_port() {
  python3 -c '
import socket, random
for p in random.sample(range(20000, 30000, 2), 500):
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}

platform_start() {
  local b=$1 work=$2 port
  PLATFORM_WORK=$work
  mkdir -p "$work/tpm"
  port=$(platform_free_port)
  swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
    --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$work/tpm" \
    --flags not-need-init,startup-clear >"$work/swtpm.log" 2>&1 &
  PLATFORM_SWTPM_PID=$!
  export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port" TSS2_LOG=all+NONE
  local t=$TPM2TOOLS_TCTI i
  for i in $(seq 1 100); do tpm2_pcrread -Q sha256:0 2>/dev/null && break; sleep 0.05; done

  platform_say ""
  platform_say "======== a measured boot: firmware, boot loader and kernel into PCRs 0, 4 and 5"
  local m pcr
  for m in "0:demo firmware 1.0" "4:demo boot loader 2.06" "5:demo kernel 6.1.0-18"; do
    pcr=${m%%:*}
    platform_say "  PCR $pcr <- SHA-256(\"${m#*:}\")"
    tpm2_pcrextend "$pcr:sha256=$(printf '%s' "${m#*:}" | sha256sum | cut -d' ' -f1)"
  done

  platform_say ""
  platform_say "======== enrolment by the key management entity (srtm-keymgr)"
  # The measured configuration: everything srtmd does, its socket and admin capability too.
  # The socket and the admin capability go to PLATFORM_RUN_DIR (default: the work directory).
  local run=${PLATFORM_RUN_DIR:-$work}
  printf 'srtm-pcr 15\nproof-pcrs 0-7\nirk-blob %s/irk.sealed\nlisten ipc://%s/srtmd.sock\nadmin-cap %s/admin.cap\n' \
    "$work" "$run" "$run" >"$work/srtmd.conf"
  # Further lines (quotas, for instance) from the caller, measured like the rest.
  printf '%b' "${PLATFORM_SRTMD_CONF_EXTRA-}" >>"$work/srtmd.conf"
  "$b/keymgmt/srtm-keymgr" --tcti "$t" enroll --aik-pem "$work/aik.pem" >"$work/keymgr.log"
  "$b/keymgmt/srtm-keymgr" --tcti "$t" predict --srtmd "$b/srtm/srtmd" \
    --config "$work/srtmd.conf" -o "$work/reference.json" >>"$work/keymgr.log"
  "$b/keymgmt/srtm-keymgr" --tcti "$t" wrap-irk --reference "$work/reference.json" \
    -o "$work/irk.sealed" >>"$work/keymgr.log"
  [ "${PLATFORM_QUIET:-0}" = 1 ] || sed 's/^/  /' "$work/keymgr.log"

  platform_say ""
  platform_say "======== boot continues: srtm-launch measures srtmd and executes it; srtmd runs its SRTM-proof-period"
  # One step, as the unit starts it: srtm-launch measures srtmd and its configuration,
  # extends the SRTM PCR and executes srtmd (closing the period itself if that fails).
  local launch=("$b/srtm/srtm-launch" --tcti "$t" --config "$work/srtmd.conf" --
    "$(realpath "$b")/srtm/srtmd" --config "$work/srtmd.conf" --tcti "$t"
    --pidfile "$work/srtmd.pid")
  if [ "${PLATFORM_SRTMD_FOREGROUND:-0}" = 1 ]; then
    # srtmd stays a child of this shell, so platform_stop_srtmd can report its exit status;
    # it serves once it has written its pid file.
    "${launch[@]}" --foreground >/dev/null 2>"$work/srtmd.log" &
    PLATFORM_SRTMD_PID=$!
    for i in $(seq 1 1200); do
      [ -s "$work/srtmd.pid" ] && break
      kill -0 "$PLATFORM_SRTMD_PID" 2>/dev/null || break
      sleep 0.05
    done
    if ! [ -s "$work/srtmd.pid" ]; then
      cat "$work/srtmd.log" >&2
      return 1
    fi
  elif ! "${launch[@]}" 2>"$work/srtmd.log"; then
    cat "$work/srtmd.log" >&2
    return 1
  fi
  [ "${PLATFORM_QUIET:-0}" = 1 ] || sed 's/^/  /' "$work/srtmd.log"
  export SRTM_SOCKET="ipc://$run/srtmd.sock" SRTMCTL="$b/client-lib/srtmctl"
  export SRTM_ADMIN_CAP="$run/admin.cap" SRTM_DEMO_DIR="$work"
  export SRTM_AIK_PEM="$work/aik.pem" SRTM_REFERENCE="$work/reference.json"
}

# SIGTERM to srtmd started with PLATFORM_SRTMD_FOREGROUND=1; returns its exit status.
platform_stop_srtmd() {
  local pid=${PLATFORM_SRTMD_PID:-} st=0
  [ -n "$pid" ] || return 1
  PLATFORM_SRTMD_PID=
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || st=$?
  return $st
}

platform_stop() {
  if [ -n "${PLATFORM_WORK:-}" ] && [ -s "$PLATFORM_WORK/srtmd.pid" ]; then
    kill "$(cat "$PLATFORM_WORK/srtmd.pid")" 2>/dev/null || true
  fi
  if [ -n "${PLATFORM_SRTMD_PID:-}" ]; then
    wait "$PLATFORM_SRTMD_PID" 2>/dev/null || true
    PLATFORM_SRTMD_PID=
  fi
  if [ -n "${PLATFORM_SWTPM_PID:-}" ]; then
    kill "$PLATFORM_SWTPM_PID" 2>/dev/null || true
    wait "$PLATFORM_SWTPM_PID" 2>/dev/null || true
  fi
}
