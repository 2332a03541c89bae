#!/usr/bin/env bash
# A full local drill with no cluster: start the canary, send phased load
# (baseline, then a disruption the way an upgrade causes one, then after),
# and judge the phases. The canary is restarted during the "upgrade" phase
# with its graceful drain, as a rolling update would; the verdict shows
# whether traffic noticed.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/rehearse}
ADDR=${ADDR:-127.0.0.1:18080}
RATE=${RATE:-200}
PHASE=${PHASE:-10}
RUN=${RUN:-runs/local-$(date -u +%Y%m%dT%H%M%SZ)}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

start_canary() {
	"$BIN" canary serve --addr "$ADDR" --drain-delay 2s 2>>"$RUN/canary.log" &
	pids+=($!)
	for _ in $(seq 50); do curl -fsS "http://$ADDR/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
	echo "canary did not become ready on $ADDR" >&2
	exit 4
}

mkdir -p "$RUN"
start_canary
echo "recording $((3 * PHASE))s of load at ${RATE}/s into $RUN" >&2
"$BIN" load --target "http://$ADDR/" --rate "$RATE" --duration "$((3 * PHASE))s" \
	--phase-switch "${PHASE}s=upgrade" --phase-switch "$((2 * PHASE))s=after" --out "$RUN" &
load=$!
sleep $((PHASE + PHASE / 2))
echo "upgrade: draining the canary" >&2
kill -TERM "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
start_canary
wait "$load"
set +e
"$BIN" report "$RUN"
code=$?
set -e
echo "HTML report: $RUN/report.html" >&2
exit $code
