#!/bin/sh
# Decode throughput of `sbrp decode --format ndjson` (and text), with and without --keylog, on a capture
# of 1 KiB Data frames (a benchmark, not a test). Usage: scripts/bench-decode.sh [MiB]
set -eu
MIB=${1:-256}
TARGET=${CARGO_TARGET_DIR:-target}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
cargo build --release --quiet --bin sbrp --example gen_capture
"$TARGET/release/examples/gen_capture" "$DIR/cap.bin" "$DIR/keys.log" $((MIB * 1024 * 1024))
BYTES=$(wc -c < "$DIR/cap.bin")
run() {
    label=$1; shift
    best=""
    for _ in 1 2 3; do
        start=$(date +%s.%N)
        "$TARGET/release/sbrp" decode "$@" "$DIR/cap.bin" > /dev/null
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    printf '%-28s %8.1f MB/s  (%d bytes, best of 3: %.3f s)\n' "$label" \
        "$(echo "$BYTES / $best / 1000000" | bc -l)" "$BYTES" "$best"
}
run "--format ndjson" --format ndjson
run "--format ndjson --keylog" --format ndjson --keylog "$DIR/keys.log"
run "--format text (default)" --format text
