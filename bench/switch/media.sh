#!/usr/bin/env bash
# Concurrent anchored G.711 calls with RTP through `dialtone serve`, against
# the shared bench's minimal C relay under the same load in the same run.
#
#   udpbench sgen A_i --RTP--> Dialtone leg X_i (caller) ==bridge== leg Y_i (callee) --RTP--> B_i
#                 B_i --RTP--> Y_i ==> X_i --RTP--> A_i
#
# For each CALLS level a fresh `dialtone serve` (release build, pinned to
# SUT_CPU) gets CALLS real SIP calls from media_calls.py (a trusted peer
# calling extension `service`, whose static contact is the same script):
# every call is a B2BUA pair with its own RTP ports, SDP rewritten, records
# in SQLite. The shared generator then sends 2 x 50 packets/s of 172-byte
# RTP per call for SECS seconds through the anchored legs and measures
# loss and one-way latency; Dialtone's CPU (whole process, /proc) over the
# generator's run gives CPU per call and per packet. The C relay
# (udpbench srelay, recv/sendto per packet) carries the same streams as the
# reference. Only processes started here are stopped (by pid); every step
# is bounded by `timeout`.
#
# Settings (environment): CALLS="250 500 1000 2000" SECS=10 SUT_CPU=1
#   GEN_CPU=0 GEN_BASE=20000 RELAY_BASE=10000 RTP_PORTS=40000-49999
#   SUT_PORT=25060 UAC_PORT=25090 UAS_PORT=25070 HTTP_PORT=25080
#   RELAYS="c dialtone"  QUIET_MAX=15 QUIET_WAIT=60
#   OUT=bench/results/media-<timestamp>
# PASS = loss < 0.1 % and p99 latency < 2 ms (the issue's goal at 500 calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
BENCH_DIR=${BENCH_DIR:-$repo/../shared/bench}
LIB=$BENCH_DIR/lib
[ -f "$LIB/cputree.py" ] || { echo "no shared bench at $BENCH_DIR" >&2; exit 2; }
CALLS=${CALLS:-"250 500 1000 2000"}
SECS=${SECS:-10}
SUT_CPU=${SUT_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
GEN_BASE=${GEN_BASE:-20000}
RELAY_BASE=${RELAY_BASE:-10000}
RTP_PORTS=${RTP_PORTS:-40000-49999}
SUT_PORT=${SUT_PORT:-25060}
UAC_PORT=${UAC_PORT:-25090}
UAS_PORT=${UAS_PORT:-25070}
HTTP_PORT=${HTTP_PORT:-25080}
RELAYS=${RELAYS:-"c dialtone"}
export QUIET_MAX=${QUIET_MAX:-15} QUIET_WAIT=${QUIET_WAIT:-60}
OUT=${OUT:-$repo/bench/results/media-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
. "$LIB/quiet.sh"
. "$LIB/stop.sh"

cargo build --release -q -p dialtone
BIN=${CARGO_TARGET_DIR:-$repo/target}/release/dialtone
UB=$OUT/udpbench
cc -O2 -Wall -o "$UB" "$BENCH_DIR/udp/udpbench.c"
NCPU=$(nproc)

spid=""
hpid=""
# The server first: its shutdown BYEs still find media_calls.py answering.
cleanup() { stop_pid "$spid" || true; stop_pid "$hpid" || true; spid=""; hpid=""; }
trap cleanup EXIT INT TERM

SUM=$OUT/summary.tsv
printf 'relay\tcalls\tstreams\tsent\treceived\tloss_pct\tlat_p50_us\tlat_p99_us\tcpu_pct_of_core\tcpu_pct_per_call\tus_per_pkt\tgen_cpu_pct\tother_cpu_pct\tbusy_before_pct\trss_mb\tpass\n' > "$SUM"

# Runs the generator over $D/gen.map while measuring the pids in $1;
# prints one summary row (without the relay and calls columns).
measure() {
  local pids=$1 D=$2 calls=$3
  read -r r0 b0 _ t0 < <(python3 "$LIB/cputree.py" $pids)
  timeout -k 2 $((SECS + 10)) taskset -c "$GEN_CPU" "$UB" sgen "$D/gen.map" "$SECS" 20 172 > "$D/sgen.out" 2>&1
  read -r r1 b1 _ t1 < <(python3 "$LIB/cputree.py" $pids)
  local rss top
  # `timeout` runs the measured program as its child (taskset execs it).
  top=$(pgrep -P "${pids%% *}" | head -1); top=${top:-${pids%% *}}
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$top/status" 2>/dev/null || echo 0)
  python3 - "$D/sgen.out" "$r0" "$r1" "$b0" "$b1" "$t0" "$t1" "$NCPU" "$calls" "$rss" <<'PY'
import sys
f, r0, r1, b0, b1, t0, t1, ncpu, calls, rss = sys.argv[1:]
kv = {}
for line in open(f):
    if line.startswith("mode=sgen"):
        kv = dict(x.split("=", 1) for x in line.split())
dt = float(t1) - float(t0)
rel = 100 * (float(r1) - float(r0)) / dt
busy = 100 * (float(b1) - float(b0)) / (dt * int(ncpu))
gen = float(kv.get("gen_cpu_pct", 0))
other = busy * int(ncpu) - rel - gen
recvd = int(kv.get("received", 0))
upp = 1e6 * (float(r1) - float(r0)) / recvd if recvd else 0
loss = float(kv.get("loss_pct", 100))
p50 = kv.get("lat_p50_us", "")
p99 = int(kv.get("lat_p99_us", 10**9))
ok = loss < 0.1 and p99 < 2000
print("\t".join(str(x) for x in [kv.get("streams", 0), kv.get("sent", 0), recvd, "%.3f" % loss, p50, p99,
      "%.1f" % rel, "%.4f" % (rel / int(calls)), "%.2f" % upp, "%.0f" % gen, "%.0f" % other, rss,
      "PASS" if ok else "FAIL"]))
PY
}

for calls in $CALLS; do
  for relay in $RELAYS; do
    D=$OUT/$relay-c$calls; mkdir -p "$D"
    pre=$(wait_quiet)
    case $relay in
      c)
        python3 "$BENCH_DIR/udp/make_maps.py" "$calls" "$RELAY_BASE" "$GEN_BASE" "$D"
        timeout -k 2 $((SECS + 8)) taskset -c "$SUT_CPU" "$UB" srelay "$D/relay.map" plain $((SECS + 4)) \
          > "$D/relay.out" 2>&1 &
        spid=$!; sleep 0.5 ;;
      dialtone)
        cat > "$D/dialtone.toml" <<TOML
trusted_peers = ["127.0.0.1"]
rtp_ports = "$RTP_PORTS"
max_call_duration = 600
[[extensions]]
extension = "service"
password = "bench-password-1"
static_contact = "sip:127.0.0.1:$UAS_PORT"
TOML
        DIALTONE_API_KEY=bench timeout -k 3 $((SECS + 120)) taskset -c "$SUT_CPU" "$BIN" serve \
          --config "$D/dialtone.toml" --data-dir "$D/data" --sip-listen "127.0.0.1:$SUT_PORT" \
          --http-listen "127.0.0.1:$HTTP_PORT" > "$D/serve.log" 2>&1 &
        spid=$!
        sleep 1
        timeout -k 2 $((SECS + 90)) taskset -c "$GEN_CPU" python3 "$repo/bench/switch/media_calls.py" \
          "$calls" "$GEN_BASE" "$D/gen.map" "127.0.0.1:$SUT_PORT" "$UAC_PORT" "$UAS_PORT" $((SECS + 5)) \
          2> "$D/calls.log" &
        hpid=$!
        for _ in $(seq 600); do [ -f "$D/gen.map" ] || ! kill -0 "$hpid" 2>/dev/null && break; sleep 0.1; done
        if [ ! -f "$D/gen.map" ]; then
          echo "dialtone: call setup failed at $calls calls (see $D/calls.log)"; cleanup; continue
        fi
        active=$(curl -s -H "Authorization: Bearer bench" "http://127.0.0.1:$HTTP_PORT/metrics" \
          | awk '/^dialtone_calls_active/ {print $2}')
        echo "dialtone: $(cat "$D/calls.log"); active call records (two per call): $active" ;;
    esac
    row=$(measure "$spid" "$D" "$calls")
    cleanup
    printf '%s\t%s\t%s\t%s\t%s\n' "$relay" "$calls" "$(echo "$row" | cut -f1-11)" "$pre" \
      "$(echo "$row" | cut -f12-)" | tee -a "$SUM"
    sleep 1
  done
done

python3 - "$SUM" > "$OUT/REPORT.md" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("## Anchored G.711 calls through the switch (bench/switch/media.sh)\n")
print("| relay | calls | streams | loss % | p50 us | p99 us | CPU % of core | CPU % per call | us/packet | RSS MB | verdict |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['relay']} | {r['calls']} | {r['streams']} | {r['loss_pct']} | {r['lat_p50_us']} | {r['lat_p99_us']} | "
          f"{r['cpu_pct_of_core']} | {r['cpu_pct_per_call']} | {r['us_per_pkt']} | {r['rss_mb']} | {r['pass']} |")
by = {(r['relay'], r['calls']): r for r in rows}
print()
for (relay, calls), r in sorted(by.items()):
    c = by.get(("c", calls))
    if relay == "dialtone" and c and float(c["us_per_pkt"]) > 0:
        print(f"- {calls} calls: Dialtone {r['us_per_pkt']} us/packet vs C relay {c['us_per_pkt']} "
              f"= {float(r['us_per_pkt']) / float(c['us_per_pkt']):.2f}x")
PY
cat "$OUT/REPORT.md"
echo "report: $OUT/REPORT.md"
