#!/usr/bin/env bash
# Layering is checked, not hoped for (DESIGN.md, STYLE.md habit 9):
# - a sans-IO crate must not depend on tokio (or any async runtime / socket crate);
# - its code must not read the clock (Instant::now / SystemTime::now): time is a parameter;
# - its tests must not sleep: they run on testkit's fake clock.
set -euo pipefail
cd "$(dirname "$0")/.."

SANS_IO=(sip sdp sip-core model media engine flow testkit)
FORBIDDEN_DEPS='^(tokio|async-std|smol|mio|socket2|async-io) '
fail=0

for crate in "${SANS_IO[@]}"; do
    # Normal and build dependencies only: a dev-dependency does not ship.
    # One known exception is pruned: ezk-g722 (the G.722 codec the media
    # issue prescribes) links tokio through its `ezk` framework crates;
    # media only calls its pure encode/decode functions.
    prune=()
    cargo tree -p "$crate" -e normal,build -i ezk-g722 --offline >/dev/null 2>&1 && prune=(--prune ezk-g722)
    deps=$(cargo tree -p "$crate" -e normal,build --prefix none --no-dedupe "${prune[@]}" --offline 2>/dev/null \
        || cargo tree -p "$crate" -e normal,build --prefix none --no-dedupe "${prune[@]}")
    if bad=$(grep -E "$FORBIDDEN_DEPS" <<<"$deps" | sort -u) && [ -n "$bad" ]; then
        echo "LAYERING: sans-IO crate '$crate' depends on an I/O runtime:"
        echo "$bad" | sed 's/^/    /'
        fail=1
    fi
    dir="crates/$crate"
    # Code lines (not comments or doc comments) that read the clock. testkit
    # is exempt: its FakeClock needs one real Instant as its origin
    # (std offers no other way to make one).
    if [ "$crate" != testkit ] && hits=$(grep -rnE 'Instant::now\(|SystemTime::now\(' "$dir/src" \
        | grep -vE '^[^:]+:[0-9]+:\s*//' ) && [ -n "$hits" ]; then
        echo "LAYERING: sans-IO crate '$crate' reads the clock (time must be a parameter):"
        echo "$hits" | sed 's/^/    /'
        fail=1
    fi
    # Tests that sleep for real.
    if [ -d "$dir/tests" ] || [ -d "$dir/src" ]; then
        if hits=$(grep -rnE '(thread::sleep|tokio::time::sleep)\(' "$dir" --include='*.rs' \
            | grep -vE '^[^:]+:[0-9]+:\s*//' ) && [ -n "$hits" ]; then
            echo "LAYERING: '$crate' sleeps for real (use testkit's FakeClock):"
            echo "$hits" | sed 's/^/    /'
            fail=1
        fi
    fi
done

# The softphone's protocol core is a sans-IO module inside the `ua` crate
# (whose other modules do I/O): no tokio, no sockets, no clock reads there,
# and its tests (crates/ua/tests/core.rs) run on the fake clock.
if hits=$(grep -rnE 'tokio|std::net::(Udp|Tcp)|Instant::now\(|SystemTime::now\(|thread::sleep' crates/ua/src/core \
    | grep -vE '^[^:]+:[0-9]+:\s*//' ) && [ -n "$hits" ]; then
    echo "LAYERING: the sans-IO ua::core does I/O or reads the clock:"
    echo "$hits" | sed 's/^/    /'
    fail=1
fi
if [ -f crates/ua/tests/core.rs ] && hits=$(grep -nE '(thread::sleep|tokio::time::sleep)\(' crates/ua/tests/core.rs) && [ -n "$hits" ]; then
    echo "LAYERING: ua's core tests sleep for real (use testkit's FakeClock):"
    echo "$hits" | sed 's/^/    /'
    fail=1
fi

if [ "$fail" -ne 0 ]; then
    echo "layering check FAILED"
    exit 1
fi
echo "layering check: ${SANS_IO[*]} and ua::core are free of tokio, clock reads and sleeps"
