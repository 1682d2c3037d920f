#!/usr/bin/env bash
# CPU per packet of Dialtone's RTP relay (net::rtp) against the minimal C
# relay of the shared bench (udpbench srelay, recv/sendto per packet over
# epoll), under the same load in the same run.
#
#   udpbench sgen (A_i, B_i)  --RTP-->  relay  --RTP-->  (B_i, A_i)
#
# CALLS calls x 2 streams of 172-byte G.711 RTP (20 ms, 50 packets/s per
# stream) from the shared bench's generator; each relay pinned to core
# RELAY_CPU, the generator to GEN_CPU. Relay CPU (utime+stime of its process
# tree, /proc) over the generator's run divided by the packets the generator
# got back = CPU microseconds per relayed packet. Loss and one-way latency
# (p50/p99, generator -> relay -> generator) come from the generator.
# other_cpu_pct is what everything else on the box used meanwhile (in % of
# one core): rows where it is high were disturbed; rerun them.
#
# Settings (environment):
#   CALLS=500 SECS=10 ROUNDS=1 WORKERS=1
#   ECHO=1: first measure the ceiling, a plain UDP echo loop (udpbench echo
#       plain, driven closed-loop by udpbench blast) on the relay's core;
#       the summary gives each relay's packets/s per core beside it
#   RELAYS="c dialtone": c = udpbench srelay plain; dialtone = net::rtp;
#       two rejected designs doing the same forwarding on one thread:
#       mio = edge-triggered poll, each ready socket read until WouldBlock;
#       tokio = a tokio task per socket; NAME=BINARY:MODE = another build of
#       rtp_relay_bench (e.g. an older commit's) run as MODE, shown as NAME
#   RELAY_CPU=1 GEN_CPU=0   RELAY_BASE=10000 GEN_BASE=20000 (below 32768)
#   BENCH_DIR=<repo>/../shared/bench   RELAY_BIN= (default: cargo build
#   --release --example rtp_relay_bench)   QUIET_MAX=15 QUIET_WAIT=60
#   OUT=bench/results/rtp-relay-<timestamp>
# Loopback only; every process is bounded by `timeout` and stops by itself;
# only processes this script started are stopped (by pid).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-$ROOT/../shared/bench}
CALLS=${CALLS:-500}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-1}
RELAYS=${RELAYS:-"c dialtone"}
WORKERS=${WORKERS:-1}
RELAY_CPU=${RELAY_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
RELAY_BASE=${RELAY_BASE:-10000}
GEN_BASE=${GEN_BASE:-20000}
export QUIET_MAX=${QUIET_MAX:-15} QUIET_WAIT=${QUIET_WAIT:-60}
OUT=${OUT:-$ROOT/bench/results/rtp-relay-$(date +%Y%m%d-%H%M%S)}
LIB=$BENCH_DIR/lib
mkdir -p "$OUT"
[ -f "$LIB/cputree.py" ] || { echo "no shared bench at $BENCH_DIR (set BENCH_DIR)" >&2; exit 2; }
. "$LIB/quiet.sh"
. "$LIB/stop.sh"

UB=$OUT/udpbench
cc -O2 -Wall -o "$UB" "$BENCH_DIR/udp/udpbench.c"
if [ -z "${RELAY_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p dialtone-net --example rtp_relay_bench)
  RELAY_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/rtp_relay_bench
fi

rpid=""
# stop.sh is not written for set -e (its `wait` returns the signal status).
cleanup() { stop_pid "$rpid" || true; rpid=""; }
trap cleanup EXIT INT TERM

SUM=$OUT/summary.tsv
printf 'round\trelay\tcalls\toffered_pps\tsent\treceived\tloss_pct\tlat_p50_us\tlat_p99_us\trelay_cpu_pct\trelay_us_per_pkt\tother_cpu_pct\tbusy_before_pct\n' > "$SUM"

# run_one ROUND RELAY: one generator run through one relay; appends a row.
run_one() {
  local round=$1 relay=${2%%=*} bin=$RELAY_BIN mode=$2 i
  if [[ $2 == *=* ]]; then bin=${2#*=}; mode=${bin##*:}; bin=${bin%:*}; fi
  local D=$OUT/r$round-$relay
  mkdir -p "$D"
  local pre; pre=$(wait_quiet)
  case "$relay" in
    c)
      python3 "$BENCH_DIR/udp/make_maps.py" "$CALLS" "$RELAY_BASE" "$GEN_BASE" "$D"
      timeout -k 2 $((SECS + 8)) taskset -c "$RELAY_CPU" "$UB" srelay "$D/relay.map" plain $((SECS + 4)) \
        > "$D/relay.out" 2>&1 &
      rpid=$!
      sleep 0.5 ;;
    *)
      timeout -k 2 $((SECS + 8)) taskset -c "$RELAY_CPU" "$bin" "$CALLS" "$RELAY_BASE" "$GEN_BASE" \
        "$D/gen.map" $((SECS + 2)) "$WORKERS" "$mode" > "$D/relay.out" 2>&1 &
      rpid=$!
      for i in $(seq 100); do [ -f "$D/gen.map" ] && break; sleep 0.1; done
      [ -f "$D/gen.map" ] || { echo "$relay relay did not start:" >&2; cat "$D/relay.out" >&2; return 1; } ;;
  esac
  local r0 r1 a0 a1 t0 t1
  read -r r0 a0 _ t0 < <(python3 "$LIB/cputree.py" "$rpid")
  timeout -k 2 $((SECS + 10)) taskset -c "$GEN_CPU" "$UB" sgen "$D/gen.map" "$SECS" 20 172 > "$D/sgen.out" 2>&1
  read -r r1 a1 _ t1 < <(python3 "$LIB/cputree.py" "$rpid")
  if [ "$relay" = c ]; then stop_pid "$rpid" || true; else wait "$rpid" || true; fi
  rpid=""
  python3 - "$D/sgen.out" "$r0" "$r1" "$a0" "$a1" "$t0" "$t1" "$round" "$relay" "$CALLS" "$pre" >> "$SUM" <<'PY'
import sys
f, r0, r1, a0, a1, t0, t1, rnd, relay, calls, pre = sys.argv[1:]
kv = {}
for line in open(f):
    if line.startswith("mode=sgen"):
        kv = dict(x.split("=", 1) for x in line.split())
cpu = float(r1) - float(r0)
dt = float(t1) - float(t0)
gen = float(kv.get("gen_cpu_pct", 0))
other = 100 * (float(a1) - float(a0) - cpu) / dt - gen
recvd = int(kv.get("received", 0))
print("\t".join(str(x) for x in [rnd, relay, calls, kv.get("offered_pps", 0), kv.get("sent", 0), recvd,
      kv.get("loss_pct", "100"), kv.get("lat_p50_us", ""), kv.get("lat_p99_us", ""),
      "%.1f" % (100 * cpu / dt), "%.3f" % (1e6 * cpu / recvd if recvd else 0), "%.0f" % other, pre]))
PY
  tail -n 1 "$SUM"
  sleep 1
}

# The ceiling: a plain UDP echo loop (one socket, recvfrom + sendto per
# packet) driven closed-loop by udpbench blast, pinned like the relays.
# Relay packets/s per core = 1e6 / its CPU us per packet, beside the echo's.
if [ "${ECHO:-1}" = 1 ]; then
  pre=$(wait_quiet)
  timeout -k 2 $((SECS + 5)) taskset -c "$RELAY_CPU" "$UB" echo 7000 plain 1 $((SECS + 1)) > "$OUT/echo.out" 2>&1 &
  rpid=$!
  sleep 0.3
  timeout -k 2 $((SECS + 5)) taskset -c "$GEN_CPU" "$UB" blast 127.0.0.1:7000 "$SECS" 172 64 512 > "$OUT/blast.out" 2>&1 || true
  wait "$rpid" || true
  rpid=""
fi

column -t -s $'\t' < "$SUM"
for round in $(seq "$ROUNDS"); do
  for relay in $RELAYS; do run_one "$round" "$relay"; done
done

echo
column -t -s $'\t' < "$SUM"
python3 - "$SUM" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
per = {}
for r in rows:
    per.setdefault(r[1], []).append(float(r[10]))
print()
for relay, v in per.items():
    print(f"{relay:6s} median CPU per packet: {statistics.median(v):.3f} us over {len(v)} run(s)")
if "c" in per:
    c = statistics.median(per["c"])
    for relay, v in per.items():
        if relay != "c" and c > 0:
            print(f"ratio {relay}/c: {statistics.median(v) / c:.2f}")
import os
echo = os.path.join(os.path.dirname(sys.argv[1]), "echo.out")
if os.path.exists(echo):
    e = dict(x.split("=", 1) for x in open(echo).read().split())
    upp = float(e.get("us_cpu_per_pkt", 0))
    if upp:
        print(f"plain UDP echo loop: {upp:.3f} us CPU per packet = {1e6 / upp:,.0f} packets/s per core "
              f"(measured {float(e['pps']):,.0f} packets/s)")
    for relay, v in per.items():
        m = statistics.median(v)
        if m:
            print(f"{relay:6s} relay: {1e6 / m:,.0f} packets/s per core at this load"
                  + (f" = {upp / m:.2f} of the echo loop's" if upp else ""))
PY
echo "results: $OUT"
