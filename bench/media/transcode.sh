#!/usr/bin/env bash
# CPU per call of concurrent anchored calls through `dialtone serve` on one
# core, passthrough against transcoding, with the shared bench's minimal C
# relay as the packets-per-core reference in the same run.
#
#   rtpgen A_i --RTP caller codec--> Dialtone leg X_i ==bridge== leg Y_i --RTP callee codec--> B_i
#          B_i --RTP callee codec--> Y_i ==> X_i --RTP caller codec--> A_i
#
# Cases (CASES, CALLER-CALLEE codecs):
#   pcmu-pcmu  passthrough (the relay never looks inside a datagram)
#   pcmu-pcma  G.711 mu-law <-> A-law transcoding
#   pcmu-opus  G.711 mu-law <-> Opus transcoding (Opus encoded by Dialtone at
#              8 kHz, 32 kbit/s, complexity 1, FEC; decoded to 8 kHz)
#   X-Y+rec    case X-Y with every call recorded (POST recording_start on
#              each caller's call: mono, both directions, WAV on disk) from
#              before the idle measurement to the end: the difference to
#              X-Y is the cost of recording
#   c          the shared bench's C relay (udpbench srelay plain: recv/sendto
#              per packet over epoll) carrying PCMU streams: no SIP, no codec
# For each case and CALLS level a fresh `dialtone serve` (release build,
# pinned to SUT_CPU) gets CALLS real SIP calls from transcode_calls.py: the
# caller offers only its codec, the callee answers only its own (with the
# payload type of Dialtone's widened offer), Dialtone restates the answer in
# the caller's codec and its relay transcodes (checked per call: the callee
# INVITE offers the callee codec, the caller's 200 OK answers the caller's).
# After IDLE_SECS of calls up without media (Dialtone's idle CPU), rtpgen
# (bench/media/rtpgen.c, pinned to GEN_CPU) sends real encoded audio both
# ways, 50 packets/s per direction per call for SECS seconds (payloads.py:
# G.711 tones; Opus packets made once with libopus through ctypes, hybrid
# full band ~32 kbit/s as a softphone sends speech), and measures loss and
# one-way latency per direction. Dialtone's CPU (utime+stime of its process,
# all threads, /proc via the shared cputree.py) over rtpgen's run gives CPU %
# of the core, per call and per relayed packet. Afterwards the per-leg
# counters of SAMPLE calls (GET /v1/calls/{id}/stats: inbound-rtp
# packetsReceived, outbound-rtp packetsSent) show what the relay received
# and sent, and the audio received by call 0 is decoded and checked to be
# the other side's tone (payloads.py check), so a transcoding that only
# conceals undecodable packets would fail the check.
#
# Settings (environment):
#   CASES="c pcmu-pcmu pcmu-pcma pcmu-opus"
#   G711_CALLS="100 250"  (levels for c, pcmu-pcmu, pcmu-pcma)
#   OPUS_CALLS="20 50 80 100" (levels for cases with opus)
#   RETRIES=2 OTHER_MAX=25: a step during which processes not started here
#       used more than OTHER_MAX % of a core is run again (up to RETRIES
#       times); the least disturbed run is reported (all in attempts.tsv)
#   SECS=10 IDLE_SECS=3 SAMPLE=10 SUT_CPU=1 GEN_CPU=0
#   GEN_BASE=22000 RELAY_BASE=12000 RTP_PORTS=28000-31999 (below 32768)
#   SUT_PORT=26060 UAC_PORT=26090 UAS_PORT=26070 HTTP_PORT=26080
#   QUIET_MAX=15 QUIET_WAIT=60  BENCH_DIR=<repo>/../shared/bench
#   DIALTONE_BIN=target/release/dialtone (built with cargo only if missing)
#   TELEPHONE_EVENT=1 (the phones offer RFC 4733 telephone-event, as practically
#   all do; 0: phones without it, whose audio Dialtone scans for DTMF tones)
#   OUT=bench/results/transcode-<timestamp>
# Loopback only; every process is bounded by `timeout`; only processes this
# script started are stopped (by pid). Needs cc, python3, curl, libopus.so.0.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
HERE=$repo/bench/media
BENCH_DIR=${BENCH_DIR:-$repo/../shared/bench}
LIB=$BENCH_DIR/lib
[ -f "$LIB/cputree.py" ] || { echo "no shared bench at $BENCH_DIR" >&2; exit 2; }
CASES=${CASES:-"c pcmu-pcmu pcmu-pcma pcmu-opus"}
G711_CALLS=${G711_CALLS:-"100 250"}
OPUS_CALLS=${OPUS_CALLS:-"20 50 80 100"}
RETRIES=${RETRIES:-2}
OTHER_MAX=${OTHER_MAX:-25}
SECS=${SECS:-10}
IDLE_SECS=${IDLE_SECS:-3}
SAMPLE=${SAMPLE:-10}
SUT_CPU=${SUT_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
GEN_BASE=${GEN_BASE:-22000}
RELAY_BASE=${RELAY_BASE:-12000}
RTP_PORTS=${RTP_PORTS:-28000-31999}
SUT_PORT=${SUT_PORT:-26060}
UAC_PORT=${UAC_PORT:-26090}
UAS_PORT=${UAS_PORT:-26070}
HTTP_PORT=${HTTP_PORT:-26080}
export QUIET_MAX=${QUIET_MAX:-15} QUIET_WAIT=${QUIET_WAIT:-60}
OUT=${OUT:-$repo/bench/results/transcode-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
. "$LIB/quiet.sh"
. "$LIB/stop.sh"

BIN=${DIALTONE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/dialtone}
if [ ! -x "$BIN" ]; then
  cargo build --release -q -p dialtone
fi
cc -O2 -Wall -o "$OUT/rtpgen" "$HERE/rtpgen.c"
cc -O2 -Wall -o "$OUT/udpbench" "$BENCH_DIR/udp/udpbench.c"
python3 "$HERE/payloads.py" make "$OUT/payloads" | tee "$OUT/payloads.txt"
NCPU=$(nproc)
API="http://127.0.0.1:$HTTP_PORT"
AUTH="Authorization: Bearer bench"

spid=""
hpid=""
# The server first: its shutdown BYEs still find transcode_calls.py answering.
cleanup() { stop_pid "$spid" || true; stop_pid "$hpid" || true; spid=""; hpid=""; }
trap cleanup EXIT INT TERM

SUM=$OUT/summary.tsv
printf 'case\tcalls\tstreams\tsent\treceived\tloss_ab_pct\tloss_ba_pct\tlat_ab_p50_us\tlat_ab_p99_us\tlat_ba_p50_us\tlat_ba_p99_us\tidle_cpu_pct\tcpu_pct_of_core\tcpu_pct_per_call\tus_per_pkt\tgen_cpu_pct\tother_cpu_pct\tbusy_before_pct\trss_mb\tsample_in_per_call\tsample_out_per_call\taudio\ttry\n' > "$SUM"

snap() { python3 "$LIB/cputree.py" "$@"; }

# Runs rtpgen over $D/gen.map while measuring the pid tree $1; prints the
# measured columns (streams ... rss_mb) and leaves rtpgen's line in $D/gen.out.
measure() {
  local pid=$1 D=$2 calls=$3 idle=$4
  read -r r0 b0 _ t0 < <(snap "$pid")
  timeout -k 2 $((SECS + 10)) taskset -c "$GEN_CPU" "$OUT/rtpgen" "$D/gen.map" "$SECS" "$D" > "$D/gen.out" 2>&1
  read -r r1 b1 _ t1 < <(snap "$pid")
  local top rss
  # `timeout` runs the measured program as its child (taskset execs it).
  top=$(pgrep -P "$pid" | head -1); top=${top:-$pid}
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$top/status" 2>/dev/null || echo 0)
  python3 - "$D/gen.out" "$r0" "$r1" "$b0" "$b1" "$t0" "$t1" "$NCPU" "$calls" "$rss" "$idle" <<'PY'
import sys
f, r0, r1, b0, b1, t0, t1, ncpu, calls, rss, idle = sys.argv[1:]
kv = {}
for line in open(f):
    if line.startswith("mode=rtpgen"):
        kv = dict(x.split("=", 1) for x in line.split())
dt = float(t1) - float(t0)
sut = 100 * (float(r1) - float(r0)) / dt
busy = 100 * (float(b1) - float(b0)) / dt  # % of one core, all processes
gen = float(kv.get("gen_cpu_pct", 0))
recvd = int(kv.get("received", 0))
upp = 1e6 * (float(r1) - float(r0)) / recvd if recvd else 0
print("\t".join(str(x) for x in [
    kv.get("streams", 0), kv.get("sent", 0), recvd, kv.get("loss_ab_pct", 100), kv.get("loss_ba_pct", 100),
    kv.get("lat_ab_p50_us", ""), kv.get("lat_ab_p99_us", ""), kv.get("lat_ba_p50_us", ""), kv.get("lat_ba_p99_us", ""),
    idle, "%.1f" % sut, "%.3f" % (sut / int(calls)), "%.2f" % upp, "%.0f" % gen, "%.0f" % max(0, busy - sut - gen), rss]))
PY
}

# Sums the per-leg counters of up to SAMPLE calls: prints "in out" =
# packets the relay received from / sent to the two ends, per call.
sample_stats() {
  local D=$1
  for dir in incoming outgoing; do
    curl -s --max-time 10 -H "$AUTH" "$API/v1/calls?direction=$dir&page_size=$SAMPLE" > "$D/calls-$dir.json" || true
    python3 -c 'import json,sys; [print(c["id"]) for c in json.load(open(sys.argv[1]))["items"]]' \
      "$D/calls-$dir.json" 2>/dev/null | while read -r id; do
      curl -s --max-time 10 -H "$AUTH" "$API/v1/calls/$id/stats"; echo
    done
  done > "$D/stats.jsonl"
  python3 - "$D/stats.jsonl" "$SAMPLE" <<'PY'
import json, sys
legs = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
legs = [l for l in legs if "inbound-rtp" in l]
if not legs:
    print("- -"); sys.exit()
calls = len(legs) / 2
rin = sum(l["inbound-rtp"]["packetsReceived"] for l in legs)
out = sum(l["outbound-rtp"]["packetsSent"] for l in legs)
print(f"{rin / calls:.0f} {out / calls:.0f}")
PY
}

# Starts a recording on every incoming (caller's) call; prints how many run.
record_all() {
  local D=$1 token="" n=0
  while :; do
    curl -s --max-time 10 -H "$AUTH" \
      "$API/v1/calls?direction=incoming&page_size=500${token:+&page_token=$token}" > "$D/rec-calls.json"
    while read -r id; do
      curl -s -o /dev/null --max-time 10 -H "$AUTH" -H 'Content-Type: application/json' \
        -d '{"channels":"mono","direction":"both"}' "$API/v1/calls/$id/recording_start"
    done < <(python3 -c 'import json,sys; [print(c["id"]) for c in json.load(open(sys.argv[1]))["items"]]' "$D/rec-calls.json")
    token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("next_page_token") or "")' "$D/rec-calls.json")
    [ -n "$token" ] || break
  done
  curl -s --max-time 10 -H "$AUTH" "$API/v1/recordings?status=recording&page_size=500" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'
}

run_dialtone() {
  local case=$1 calls=$2 D=$3 record=""
  if [ "${case%+rec}" != "$case" ]; then record=1; case=${case%+rec}; fi
  local caller=${case%-*} callee=${case#*-}
  cat > "$D/dialtone.toml" <<TOML
trusted_peers = ["127.0.0.1"]
rtp_ports = "$RTP_PORTS"
max_call_duration = 600
[[extensions]]
extension = "service"
password = "bench-password-1"
static_contact = "sip:127.0.0.1:$UAS_PORT"
TOML
  DIALTONE_API_KEY=bench timeout -k 3 $((SECS + IDLE_SECS + 150)) taskset -c "$SUT_CPU" "$BIN" serve \
    --config "$D/dialtone.toml" --data-dir "$D/data" --sip-listen "127.0.0.1:$SUT_PORT" \
    --http-listen "127.0.0.1:$HTTP_PORT" > "$D/serve.log" 2>&1 &
  spid=$!
  for _ in $(seq 100); do curl -s -o /dev/null --max-time 1 "$API/healthz" && break; sleep 0.1; done
  timeout -k 2 $((SECS + IDLE_SECS + 120)) taskset -c "$GEN_CPU" python3 "$HERE/transcode_calls.py" \
    "$calls" "$GEN_BASE" "$D/gen.map" "127.0.0.1:$SUT_PORT" "$UAC_PORT" "$UAS_PORT" $((SECS + IDLE_SECS + 30)) \
    "$caller" "$callee" "$OUT/payloads" 2> "$D/calls.log" &
  hpid=$!
  for _ in $(seq 700); do [ -f "$D/gen.map" ] || ! kill -0 "$hpid" 2>/dev/null && break; sleep 0.1; done
  if [ ! -f "$D/gen.map" ]; then
    echo "$case: call setup failed at $calls calls (see $D/calls.log)" >&2
    return 1
  fi
  echo "$case: $(tail -1 "$D/calls.log")" >&2
  if [ -n "$record" ]; then
    # The call listing is the store's, written in 100 ms batches.
    sleep 1
    local recording
    recording=$(record_all "$D")
    echo "$case+rec: $recording recordings running" >&2
    [ "$recording" = "$calls" ] || { echo "$case+rec: only $recording of $calls calls recorded" >&2; return 1; }
  fi
  sleep 1
  read -r i0 _ _ it0 < <(snap "$spid")
  sleep "$IDLE_SECS"
  read -r i1 _ _ it1 < <(snap "$spid")
  local idle row st chk
  idle=$(python3 -c "print('%.1f' % (100 * ($i1 - $i0) / ($it1 - $it0)))")
  row=$(measure "$spid" "$D" "$calls" "$idle")
  st=$(sample_stats "$D")
  chk=ok
  python3 "$HERE/payloads.py" check "$caller" "$D/cap0.bin" 440 > "$D/check.txt" 2>&1 || chk=bad
  python3 "$HERE/payloads.py" check "$callee" "$D/cap1.bin" 1000 >> "$D/check.txt" 2>&1 || chk=bad
  printf '%s\t%s\t%s\t%s\n' "$row" "${st% *}" "${st#* }" "$chk" > "$D/row.tsv"
}

run_c() {
  local calls=$1 D=$2 i
  : > "$D/relay.map"; : > "$D/gen.map"
  for ((i = 0; i < calls; i++)); do
    local x=$((RELAY_BASE + 2 * i)) y=$((RELAY_BASE + 2 * i + 1)) a=$((GEN_BASE + 2 * i)) b=$((GEN_BASE + 2 * i + 1))
    echo "$x $y $a $b" >> "$D/relay.map"
    printf '%s %s 0 160 %s\n%s %s 0 160 %s\n' "$a" "$x" "$OUT/payloads/pcmu-1000.bin" \
      "$b" "$y" "$OUT/payloads/pcmu-440.bin" >> "$D/gen.map"
  done
  timeout -k 2 $((SECS + IDLE_SECS + 12)) taskset -c "$SUT_CPU" "$OUT/udpbench" srelay "$D/relay.map" plain \
    $((SECS + IDLE_SECS + 5)) > "$D/relay.out" 2>&1 &
  spid=$!
  sleep 0.5
  read -r i0 _ _ it0 < <(snap "$spid")
  sleep "$IDLE_SECS"
  read -r i1 _ _ it1 < <(snap "$spid")
  local idle row chk
  idle=$(python3 -c "print('%.1f' % (100 * ($i1 - $i0) / ($it1 - $it0)))")
  row=$(measure "$spid" "$D" "$calls" "$idle")
  chk=ok
  python3 "$HERE/payloads.py" check pcmu "$D/cap0.bin" 440 > "$D/check.txt" 2>&1 || chk=bad
  python3 "$HERE/payloads.py" check pcmu "$D/cap1.bin" 1000 >> "$D/check.txt" 2>&1 || chk=bad
  printf '%s\t-\t-\t%s\n' "$row" "$chk" > "$D/row.tsv"
}

for case in $CASES; do
  case $case in
    c|pcmu-pcmu|pcmu-pcma|pcma-pcmu|pcma-pcma|pcmu-pcmu+rec|pcmu-pcma+rec) levels=$G711_CALLS ;;
    *-*) levels=$OPUS_CALLS ;;
    *) echo "unknown case $case" >&2; exit 2 ;;
  esac
  for calls in $levels; do
    best="" best_other=""
    for try in $(seq $((RETRIES + 1))); do
      D=$OUT/$case-c$calls-t$try; mkdir -p "$D"
      pre=$(wait_quiet)
      # Not in a subshell: spid/hpid must reach cleanup.
      if [ "$case" = c ]; then run_c "$calls" "$D" || true
      else run_dialtone "$case" "$calls" "$D" || true; fi
      cleanup
      sleep 1
      row=$(cat "$D/row.tsv" 2>/dev/null || true)
      [ -n "$row" ] || continue
      # busy_before goes between other_cpu_pct and rss_mb.
      row=$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$case" "$calls" "$(echo "$row" | cut -f1-15)" "$pre" \
        "$(echo "$row" | cut -f16-)" "$try")
      other=$(echo "$row" | cut -f17)
      echo "$row" >> "$OUT/attempts.tsv"
      if [ -z "$best" ] || [ "$other" -lt "$best_other" ]; then best=$row best_other=$other; fi
      # Rerun a step that unrelated work on the box disturbed.
      [ "$other" -gt "$OTHER_MAX" ] || break
      echo "$case $calls calls: other processes used $other % of a core meanwhile; again" >&2
    done
    [ -n "$best" ] && echo "$best" | tee -a "$SUM"
  done
done

python3 "$HERE/report.py" "$SUM" "$SECS" "$OUT/payloads.txt" > "$OUT/REPORT.md"
cat "$OUT/REPORT.md"
echo "report: $OUT/REPORT.md"
