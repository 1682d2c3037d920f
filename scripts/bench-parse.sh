#!/usr/bin/env bash
# Parse benchmark: Dialtone's `sip` against sipx-sip 1.0.1 and rsipstack
# 0.7.14's parser, in the same run, on a ~900-byte INVITE with SDP, reading
# Via, From, To, CSeq, Call-ID and Contact typed (benches/sip-parse). Prints
# a strictness table on RFC 4475's invalid messages, then msg/s per library
# (1 / criterion's mean time) and the ratios against the goals.
#
# Usage: scripts/bench-parse.sh [extra criterion args, e.g. a name filter]
# Takes about a minute after the first build. Timings are only comparable
# on an otherwise idle machine: the load average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --manifest-path benches/sip-parse/Cargo.toml -- \
    --measurement-time 5 --warm-up-time 2 --noplot "$@" 2>&1 |
    grep -vE '^\s*$|Warming up|Collecting|Analyzing|outliers|high (mild|severe)|low (mild|severe)'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - <<'PY'
import json
import pathlib

root = pathlib.Path("benches/sip-parse/target/criterion")


def mean_ns(group, name):
    path = root / group / name / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["mean"]["point_estimate"]


rows = [
    ("parse + type", "invite_parse_and_type", "dialtone"),
    ("parse + type", "invite_parse_and_type", "sipx-sip"),
    ("parse + type", "invite_parse_and_type", "rsipstack"),
    ("parse + validate", "invite_parse_and_validate", "dialtone"),
]
rate = {}
print(f"\n{'workload':<18} {'library':<10} {'mean':>10} {'msg/s':>12}")
for label, group, name in rows:
    ns = mean_ns(group, name)
    if ns is None:
        print(f"{label:<18} {name:<10} {'not run':>10}")
        continue
    rate[(group, name)] = 1e9 / ns
    print(f"{label:<18} {name:<10} {ns / 1000:>8.2f}us {1e9 / ns:>12,.0f}")

g = "invite_parse_and_type"
d = rate.get((g, "dialtone"))
for peer, goal in (("sipx-sip", 2.0), ("rsipstack", 1.0)):
    p = rate.get((g, peer))
    if d and p:
        verdict = "met" if d / p >= goal else "NOT met"
        print(f"dialtone/{peer:<9} {d / p:5.2f}x  (goal >= {goal:g}x: {verdict})")
PY
