#!/usr/bin/env bash
# Calls per second through Dialtone's switch against Kamailio as a stateful
# proxy, in one run, each pinned to one core (CPU 1), SIPp on CPU 0.
#
#   bench/switch/cps.sh
#   RATES="200 500 1000" KAM_RATES="1000 2000 4000" bench/switch/cps.sh
#
# Dialtone is configured the way the shared bench expects of a system under
# test: 127.0.0.1 is a trusted peer (no digest auth), and SIPp's Request-URI
# user `service` is an extension whose static contact is the SIPp uas, so
# every INVITE becomes two anchored calls (B2BUA), recorded in SQLite and
# streamed as events. Uses ../shared/bench/run_all.sh (read its README);
# everything is bounded and stops by itself. Results: bench/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
shared="$repo/../shared/bench"
[ -x "$shared/run_all.sh" ] || { echo "no $shared/run_all.sh"; exit 1; }

SUT_PORT=${SUT_PORT:-25060}
UAS_PORT=${UAS_PORT:-25070}
UAC_PORT=${UAC_PORT:-25090}
HTTP_PORT=${HTTP_PORT:-25080}

cargo build --release -p dialtone >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/dialtone.toml" <<TOML
trusted_peers = ["127.0.0.1"]
rtp_ports = "40000-49999"
max_call_duration = 600
[[extensions]]
extension = "service"
password = "bench-password-1"
static_contact = "sip:127.0.0.1:$UAS_PORT"
TOML

export SUT_PORT UAS_PORT UAC_PORT
export SKIP=${SKIP:-"udp direct sippy rtp"}
export KAM_VARIANTS=${KAM_VARIANTS:-"stateful:tlsf"}
export KAM_RATES=${KAM_RATES:-"1000 2000 3000 4000 5000"}
export PROJECT_RATES=${RATES:-"200 500 1000 1500 2000 3000"}
export PROJECT_CMD="$repo/target/release/dialtone serve --config $work/dialtone.toml \
--data-dir $work/data --sip-listen 127.0.0.1:$SUT_PORT --http-listen 127.0.0.1:$HTTP_PORT"
export DIALTONE_API_KEY=bench
export OUTROOT=${OUTROOT:-"$repo/bench/results/switch-$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$OUTROOT"
"$shared/run_all.sh"
echo "report: $OUTROOT/REPORT.md"
