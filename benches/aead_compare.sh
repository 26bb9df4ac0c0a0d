#!/usr/bin/env bash
# Issue 13's comparison: `sbrp bench --seconds S --json` of several release builds, runs
# alternated ROUNDS times, then the medians of session seal / open (MB/s) per size and the
# ratios to the build named ring. Prints the load average before and after.
#
#   benches/aead_compare.sh default=/tmp/rel-default/release/sbrp ring=/tmp/rel-ring/release/sbrp \
#       old=/tmp/rel-old/release/sbrp
#
# Environment: ROUNDS (4), SECONDS_PER (0.5), OUT (a new temporary directory).
set -euo pipefail
rounds=${ROUNDS:-4}
secs=${SECONDS_PER:-0.5}
out=${OUT:-$(mktemp -d)}
names=()
for arg in "$@"; do names+=("${arg%%=*}"); done
echo "before: $(date -u +%T) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$rounds"); do
  for arg in "$@"; do
    "${arg#*=}" bench --seconds "$secs" --json > "$out/${arg%%=*}.$i.json"
  done
done
echo "after:  $(date -u +%T) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "${names[@]}" <<'PY'
import glob, json, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
label = {64: "64 B", 1024: "1 KiB", 16384: "16 KiB", 65508: "65508 B"}
med = {}
for n in names:
    runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{n}.*.json"))]
    for size in label:
        rows = [next(a for a in r["aead"] if a["size"] == size) for r in runs]
        med[n, size] = [statistics.median(x[k] for x in rows)
                        for k in ("session_seal_mb_s", "session_open_mb_s")]
# Ratios of each build to `ring` and to `old`, when those are among the builds.
pairs = [(n, b) for b in ("ring", "old") if b in names for n in names if n not in ("ring", "old")]
head = "| size | " + " | ".join(f"{n} (MB/s, seal / open)" for n in names)
head += "".join(f" | {n} / {b}" for n, b in pairs)
print(head + " |")
print("|---" + "|---:" * (len(names) + len(pairs)) + "|")
for size in label:
    row = f"| {label[size]} | " + " | ".join(f"{med[n, size][0]:.1f} / {med[n, size][1]:.1f}" for n in names)
    row += "".join(f" | {med[n, size][0] / med[b, size][0]:.2f} / {med[n, size][1] / med[b, size][1]:.2f}" for n, b in pairs)
    print(row + " |")
print(f"({len(glob.glob(f'{out}/{names[0]}.*.json'))} runs per build, medians; JSON in {out})")
PY
