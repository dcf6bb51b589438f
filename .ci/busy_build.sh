#!/usr/bin/env bash
# `make book` on a busy machine (issue 26): 4 CPU-bound processes run beside the
# build, with CI's data (.ci/data_env.sh); the elapsed time is printed and the
# busy processes are stopped however the build ends (trap).
#   usage: .ci/busy_build.sh [make targets]     (default: book)
#   BUSY=n sets the number of CPU-bound processes (default 4).
#   A full build (every chapter executed) unless FORCE= (empty) is given.
set -euo pipefail
cd "$(dirname "$0")/.."
export FORCE="${FORCE-1}"
# shellcheck source=.ci/data_env.sh
source .ci/data_env.sh

busy=()
stop_busy() {
  for pid in "${busy[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_busy EXIT
trap 'exit 130' INT TERM  # Ctrl-C still runs the EXIT trap

for _ in $(seq "${BUSY:-4}"); do
  python3 -c "while True: pass" &
  busy+=("$!")
done
targets=("${@:-book}")
echo "busy build: ${#busy[@]} CPU-bound processes (${busy[*]}) on $(nproc) cores; make ${targets[*]}"
start=$SECONDS
status=0
make "${targets[@]}" || status=$?
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "busy build: make ${targets[*]} exited with $status after $((SECONDS - start)) s" \
  "beside ${#busy[@]} CPU-bound processes (load average now $load)"
exit "$status"
