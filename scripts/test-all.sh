#!/usr/bin/env bash
# The project's test command (README.md): everything CI checks, in order.
#
#   ./scripts/test-all.sh
#
# Installs the real peers the tests use when run as root on a machine that
# lacks them (CI: only the Rust toolchain and gcc are there). Environment:
#   DIALTONE_SKIP_FUZZ=1        skip the bounded fuzzing run
#   DIALTONE_FUZZ_SECONDS=N     seconds per fuzz target (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# ---- real peers -------------------------------------------------------
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip)
command -v linphonec >/dev/null 2>&1 || need+=(linphone-cli)
# Speech for the end-to-end audio tests.
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
# media's Opus interop test drives the real libopus through python3 ctypes.
command -v python3 >/dev/null 2>&1 || need+=(python3)
ldconfig -p 2>/dev/null | grep -q 'libopus\.so\.0' || need+=(libopus0)
# ALSA's headers, only to check that the softphone's optional `device`
# feature (cpal) still builds; the default build needs none of this.
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists alsa 2>/dev/null || need+=(libasound2-dev)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "installing test peers: ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "note: missing ${need[*]} and not root: tests that need them will say SKIPPED"
    fi
fi

# ---- the gate ----------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

if pkg-config --exists alsa 2>/dev/null; then
    step "cargo clippy -p ua --features device (sound devices through cpal)"
    cargo clippy -p ua --features device --all-targets -- -D warnings
else
    echo "note: ALSA headers (libasound2-dev) absent: the ua 'device' feature is not checked"
fi

step "layering"
./scripts/check-layering.sh

step "cargo test"
cargo test --workspace

step "fuzz (bounded)"
./scripts/fuzz.sh

echo
echo "all checks passed"
