#!/usr/bin/env bash
# Prints the load generator's figures on loopback against the real canary:
#   1. rate accuracy: achieved vs target at 500/s and 2000/s over 20 s;
#   2. ceiling: most requests per second on keep-alive connections, side by
#      side with the vegeta CLI (built from the module) and wrk (Debian);
#   3. peak memory (VmHWM) of a long run at 2000/s (MEMORY_DURATION, 10m);
#   4. go test benchmarks of the per-result hot paths.
# Figures only: nothing here asserts a time. PARTS picks the parts
# (default: "accuracy ceiling memory go").
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/rehearse}
ACC_DURATION=${ACC_DURATION:-20s}
MEMORY_DURATION=${MEMORY_DURATION:-10m}
CEILING_DURATION=${CEILING_DURATION:-10s}
CEILING_CONNS=${CEILING_CONNS:-64}
PARTS=${PARTS:-accuracy ceiling memory go}
ADDR=127.0.0.1:18181
OUT=$(mktemp -d)
TOOLS=${TOOLS:-.cache/bench-tools}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

"$BIN" canary serve --addr "$ADDR" --drain-delay 0s 2>"$OUT/canary.log" &
pids+=($!)
for _ in $(seq 50); do curl -fsS "http://$ADDR/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

summary() { # dir -> "target achieved sent missed late"
	python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["accounting"]; print("%.1f %.2f %d %d %d %.1f" % (a["targetRate"], a["achievedRate"], a["sent"], a["missed"], a["late"], a["maxLagMs"]))' "$1/summary.json"
}

if [[ " $PARTS " == *" accuracy "* ]]; then
echo "== rate accuracy (loopback, canary, both probe kinds, $ACC_DURATION)"
printf "%-8s %-10s %-10s %-8s %-8s %-8s %-10s\n" target achieved error% sent missed late maxlag_ms
for rate in ${ACC_RATES:-500 2000}; do
	"$BIN" load --quiet --target "http://$ADDR/" --rate "$rate" --duration "$ACC_DURATION" --out "$OUT/acc-$rate" >/dev/null
	read -r target achieved sent missed late lag < <(summary "$OUT/acc-$rate")
	err=$(python3 -c "print('%.2f' % (abs($achieved-$target)/$target*100))")
	printf "%-8s %-10s %-10s %-8s %-8s %-8s %-10s\n" "$target" "$achieved" "$err" "$sent" "$missed" "$late" "$lag"
done
fi

echo
if [[ " $PARTS " == *" ceiling "* ]]; then
echo "== ceiling on keep-alive connections ($CEILING_CONNS connections, $CEILING_DURATION)"
mkdir -p "$TOOLS"
if [[ ! -x "$TOOLS/vegeta" ]]; then
	# The vegeta CLI, built from the same module version the library comes
	# from, in a wrapper module of its own so this module's files stay as they are.
	src="$TOOLS/vegeta-src"
	mkdir -p "$src"
	printf 'module vegetacli\n\ngo 1.22\n\nrequire github.com/tsenart/vegeta/v12 v12.12.0\n' >"$src/go.mod"
	(cd "$src" && GOFLAGS=-mod=mod go build -o ../vegeta github.com/tsenart/vegeta/v12)
fi
"$BIN" load --quiet --target "http://$ADDR/" --rate 1000000 --probes reuse --max-workers "$CEILING_CONNS" --duration "$CEILING_DURATION" --out "$OUT/ceil" >/dev/null
read -r _ ours _ < <(summary "$OUT/ceil")
echo "GET http://$ADDR/" | "$TOOLS/vegeta" attack -rate=0 -max-workers="$CEILING_CONNS" -duration="$CEILING_DURATION" >"$OUT/vegeta.bin"
veg=$("$TOOLS/vegeta" report -type=json <"$OUT/vegeta.bin" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["rate"])')
if command -v wrk >/dev/null; then
	wrkrate=$(wrk -t2 -c"$CEILING_CONNS" -d"$CEILING_DURATION" "http://$ADDR/" | awk '/Requests\/sec/ {print $2}')
else
	wrkrate=NaN
	echo "(wrk not installed: apt-get install wrk)"
fi
printf "%-22s %12s %10s\n" generator "requests/s" "vs ours"
printf "%-22s %12s %10s\n" "rehearse load" "$ours" "1.00"
printf "%-22s %12s %10s\n" "vegeta attack (CLI)" "$veg" "$(python3 -c "print('%.2f' % ($veg/$ours))")"
printf "%-22s %12s %10s\n" "wrk" "$wrkrate" "$(python3 -c "print('%.2f' % (float('$wrkrate')/$ours))")"
echo "vegeta's own CLI reads our results file: $("$TOOLS/vegeta" report <"$OUT/ceil/results.bin" | head -1 | tr -s ' ')"
fi

echo
if [[ " $PARTS " == *" memory "* ]]; then
echo "== peak memory at 2000/s for $MEMORY_DURATION (VmHWM of the rehearse load process)"
"$BIN" load --quiet --target "http://$ADDR/" --rate 2000 --duration "$MEMORY_DURATION" --out "$OUT/mem" >/dev/null &
lp=$!
peak=0
samples=()
while kill -0 "$lp" 2>/dev/null; do
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$lp/status" 2>/dev/null || echo 0)
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$lp/status" 2>/dev/null || echo 0)
	[[ -n "$hwm" && "$hwm" -gt "$peak" ]] && peak=$hwm
	samples+=("$rss")
	sleep 5
done
wait "$lp"
n=${#samples[@]}
echo "peak RSS: $((peak / 1024)) MB; RSS at 25%/50%/75%/end of run: $((${samples[$((n / 4))]:-0} / 1024)) / $((${samples[$((n / 2))]:-0} / 1024)) / $((${samples[$((3 * n / 4))]:-0} / 1024)) / $((${samples[$((n - 2))]:-0} / 1024)) MB"
read -r target achieved sent missed late lag < <(summary "$OUT/mem")
echo "that run: target $target/s achieved $achieved/s, sent $sent, missed $missed, late $late; results file $(du -h "$OUT/mem/results.bin" | cut -f1)"
fi

echo
if [[ " $PARTS " == *" go "* ]]; then
echo "== go benchmarks (per-result hot paths)"
go test -run '^$' -bench . -benchmem ./loadgen/ ./report/ 2>&1 | grep -E '^(Benchmark|ok|FAIL)'
fi
