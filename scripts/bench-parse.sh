#!/usr/bin/env bash
# Parse benchmark: Dialtone's `sip` against sipx-sip 1.0.1 and rsipstack's
# parser, in the same run, on a ~900-byte INVITE with SDP, reading Via,
# From, To, CSeq, Call-ID and Contact typed (benches/sip-parse). Prints
# msg/s per library and the ratios, plus a strictness table on RFC 4475.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --manifest-path benches/sip-parse/Cargo.toml -- \
    --measurement-time 5 --warm-up-time 2 2>&1 \
    | grep -vE '^\s*$|Gnuplot|Warming|Collecting|Analyzing|Benchmarking|outliers|high (mild|severe)|low (mild|severe)'
python3 - <<'PY'
import json, pathlib
root = pathlib.Path("benches/sip-parse/target/criterion")
def rate(group, name):
    est = json.loads((root / group / name / "new" / "estimates.json").read_text())
    return 1e9 / est["mean"]["point_estimate"]
g = "invite_parse_and_type"
d, x, r = rate(g, "dialtone"), rate(g, "sipx-sip"), rate(g, "rsipstack")
v = rate("invite_parse_and_validate", "dialtone")
print(f"\nparse + type, msg/s: dialtone {d:,.0f}   sipx-sip {x:,.0f}   rsipstack {r:,.0f}")
print(f"dialtone parse + validate: {v:,.0f} msg/s")
print(f"ratios: dialtone/sipx-sip {d/x:.2f}x (goal >= 2)   dialtone/rsipstack {d/r:.2f}x (goal >= 1)")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
