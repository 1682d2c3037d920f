#!/usr/bin/env bash
# Bounded fuzzing of the SIP stack (part of ./scripts/test-all.sh).
#
#   scripts/fuzz.sh                         # each target for DIALTONE_FUZZ_SECONDS (default 60)
#   DIALTONE_FUZZ_SECONDS=600 scripts/fuzz.sh
#   DIALTONE_SKIP_FUZZ=1 scripts/fuzz.sh    # skip
#   DIALTONE_FUZZ_SANITIZER=none scripts/fuzz.sh   # without AddressSanitizer
#
# Targets (fuzz/fuzz_targets): parse_datagram (never panics; an accepted
# datagram round-trips), stream_framing (same frames however the stream is
# chunked), transaction (a sip-core endpoint under fuzzed operations). The
# seed corpus is built at run time in a temporary directory from
# ../shared/conformance and is never committed. Exits non-zero, naming the
# crash file, if any target crashes.
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

# cargo-fuzz passes nightly-only flags (-Zsanitizer=..., -Cpasses=sancov...);
# the machine has only stable Rust, which accepts them with RUSTC_BOOTSTRAP=1.
# AddressSanitizer is used: the stable x86_64 Linux toolchain ships its
# runtime (librustc-stable_rt.asan.a), and it links and runs here. The
# workspace forbids unsafe code, but bytes and memchr use it. If the
# AddressSanitizer build fails (a toolchain without that runtime), the build
# is retried with --sanitizer none, which still finds panics, overflows (with
# debug assertions), hangs and memory blow-ups; DIALTONE_FUZZ_SANITIZER
# picks one explicitly.
export RUSTC_BOOTSTRAP=1
sanitizer="${DIALTONE_FUZZ_SANITIZER:-address}"
FUZZ_FLAGS=(--sanitizer "$sanitizer" --release --debug-assertions)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Seed corpus: the RFC 4475 / RFC 5118 messages, copied fresh each run.
conformance="../shared/conformance"
for t in "${TARGETS[@]}"; do mkdir -p "$work/corpus/$t"; done
if [ -d "$conformance" ]; then
    n=0
    while IFS= read -r -d '' f; do
        name="$(basename "$(dirname "$f")")-$(basename "$f")"
        for t in "${TARGETS[@]}"; do cp "$f" "$work/corpus/$t/$name"; done
        n=$((n + 1))
    done < <(find "$conformance" -name '*.dat' -print0)
    echo "fuzz: seed corpus of $n messages from $conformance"
else
    echo "fuzz: $conformance is absent: fuzzing from an empty corpus"
fi

echo "fuzz: building ${TARGETS[*]} (${FUZZ_FLAGS[*]})"
began=$SECONDS
if ! (cd fuzz && cargo fuzz build "${FUZZ_FLAGS[@]}" >/dev/null); then
    if [ "$sanitizer" != address ] || [ -n "${DIALTONE_FUZZ_SANITIZER:-}" ]; then
        echo "fuzz: build failed" >&2
        exit 1
    fi
    echo "fuzz: the AddressSanitizer build failed on this toolchain; building with --sanitizer none"
    FUZZ_FLAGS=(--sanitizer none --release --debug-assertions)
    (cd fuzz && cargo fuzz build "${FUZZ_FLAGS[@]}" >/dev/null)
fi
echo "fuzz: built in $((SECONDS - began))s"

failed=0
for t in "${TARGETS[@]}"; do
    echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
    mkdir -p "fuzz/artifacts/$t"
    touch "$work/$t.stamp"
    log="$work/$t.log"
    began=$SECONDS
    if (cd fuzz && cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "$work/corpus/$t" -- \
            -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 >"$log" 2>&1); then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
        rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
        echo "fuzz: $t ok: ${runs:-?} runs, ${rate:-?} exec/s, $((SECONDS - began))s"
    else
        failed=1
        kept="fuzz/artifacts/$t/last-run.log"
        cp "$log" "$kept"
        echo "fuzz: $t FAILED after $((SECONDS - began))s; crash input(s):"
        find "fuzz/artifacts/$t" -type f -newer "$work/$t.stamp" ! -name last-run.log \
            | sed 's/^/fuzz:   /'
        { grep -A1 "panicked at" "$log" | head -10; grep -E "ERROR: |SUMMARY: " "$log" | head -5; } || true
        echo "fuzz: full log in $kept; reproduce with"
        echo "fuzz:   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ${FUZZ_FLAGS[*]} $t ../<crash file above>)"
    fi
done
exit "$failed"
