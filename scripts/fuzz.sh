#!/usr/bin/env bash
# Bounded fuzzing of the SIP stack (part of ./scripts/test-all.sh).
#
#   scripts/fuzz.sh                    # each target for DIALTONE_FUZZ_SECONDS (default 60)
#   DIALTONE_SKIP_FUZZ=1 scripts/fuzz.sh   # skip
#
# Targets (fuzz/fuzz_targets): parse_datagram (never panics; round trip),
# stream_framing (same frames however the stream is chunked), transaction
# (a sip-core endpoint under fuzzed operations). The seed corpus is built
# at run time from ../shared/conformance (never committed). Exits non-zero,
# naming the crash file, if any target crashes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${DIALTONE_SKIP_FUZZ:-0}" = 1 ]; then
    echo "fuzz: skipped (DIALTONE_SKIP_FUZZ=1)"
    exit 0
fi
SECONDS_PER_TARGET="${DIALTONE_FUZZ_SECONDS:-60}"
TARGETS=(parse_datagram stream_framing transaction)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

# cargo-fuzz passes nightly-only flags (-Zsanitizer...); the machine has
# only stable Rust, which accepts them with RUSTC_BOOTSTRAP=1. The address
# sanitizer is not used (--sanitizer none): safe Rust needs it little, and
# its runtime does not link with the stable toolchain here; libFuzzer's
# coverage guidance and panics-as-crashes are what we rely on.
export RUSTC_BOOTSTRAP=1
FUZZ_FLAGS=(--sanitizer none --release --debug-assertions)

# Seed corpus: the RFC 4475/5118 messages, copied fresh each run.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
conformance="../shared/conformance"
for t in "${TARGETS[@]}"; do mkdir -p "$work/$t"; done
if [ -d "$conformance" ]; then
    n=0
    while IFS= read -r -d '' f; do
        for t in "${TARGETS[@]}"; do cp "$f" "$work/$t/$(basename "$(dirname "$f")")-$(basename "$f")"; done
        n=$((n + 1))
    done < <(find "$conformance" -name '*.dat' -print0)
    echo "fuzz: seed corpus of $n messages from $conformance"
else
    echo "fuzz: $conformance absent: starting from an empty corpus"
fi

echo "fuzz: building ${TARGETS[*]}"
(cd fuzz && cargo fuzz build "${FUZZ_FLAGS[@]}" >/dev/null)

failed=0
for t in "${TARGETS[@]}"; do
    echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
    mkdir -p "fuzz/artifacts/$t"
    if ! (cd fuzz && cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "$work/$t" -- \
            -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 2>"$work/$t.log"); then
        echo "fuzz: $t FAILED; crash input(s):"
        ls -1 "fuzz/artifacts/$t"/* 2>/dev/null || true
        grep -E "panicked|ERROR|SUMMARY" "$work/$t.log" | head -20 || true
        failed=1
    else
        grep -E "stat::number_of_executed_units|stat::average_exec_per_sec" "$work/$t.log" \
            | sed "s/^/fuzz: $t /" || true
    fi
done
exit "$failed"
