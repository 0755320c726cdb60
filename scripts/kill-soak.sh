#!/usr/bin/env bash
# Fault soak for the cache (issue 11): SIGKILL `modrepro run` N times at random moments while it
# trains, then run it to completion, and compare its CSV with a run that was never interrupted;
# then start P processes at once on one fresh cache and check each run was trained once.
#
#   scripts/kill-soak.sh [KILLS=20] [PROCESSES=4]
#
# Uses the release binary (cargo build --release) and a scratch copy of a Fig 1d spec sized so
# that a run lasts a few seconds. Prints one line per kill and a verdict; exit 0 = all good.
set -euo pipefail
kills=${1:-20}
processes=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/modrepro"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/specs/soak"
cat > "$work/specs/soak/sets.ron" <<'RON'
Spec(
    paper: Dorrell2025,
    figure: "Figure 1d",
    title: "kill soak",
    experiment: RandomPointSets((
        n_sets: 12, n_points: 32, data_seed: 3, balanced: true, latent: 8,
        objective: (reconstruction: 1.0, activity: 1e-3, nonnegativity: 0.5, weight: 1e-4),
        training: (steps: 30000, learning_rate: 1e-3),
        mixed_angle_threshold: 0.05,
    )),
    seeds: [0, 1],
)
RON
cd "$work"
modrepro() { "$bin" --quiet --max-batch 2 --jobs 1 "$@"; }

modrepro --outputs reference run > /dev/null 2>&1
echo "reference run: $(jq -r '.cache.trained' reference/soak/sets.manifest.json 2>/dev/null || echo '?') runs trained"

for i in $(seq 1 "$kills"); do
    modrepro --outputs killed run > /dev/null 2>&1 &
    pid=$!
    delay=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.2 + rand() * 1.5 }')
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then state="killed after ${delay} s"; else state="had finished"; fi
    wait "$pid" 2>/dev/null || true
    entries=$(find killed/cache -path "*/summaries" -prune -o -name result.sha256 -print 2>/dev/null | wc -l)
    echo "kill $i: $state; $entries of the runs cached"
done
final=$(modrepro --outputs killed run 2>&1 || true)
corrupt=$(jq -r '.cache.corrupt' killed/soak/sets.manifest.json)
if cmp -s reference/soak/sets.csv killed/soak/sets.csv && [ "$corrupt" = 0 ]; then
    echo "after $kills kills: CSV byte-identical to the uninterrupted run; 0 corrupt entries"
else
    echo "FAIL after $kills kills: CSV differs or $corrupt corrupt entries"; echo "$final"; exit 1
fi

for i in $(seq 1 "$processes"); do modrepro --cache shared --outputs "p$i" run > /dev/null 2>&1 & done
wait
trained=0
for i in $(seq 1 "$processes"); do
    trained=$((trained + $(jq -r '.cache.trained' "p$i/soak/sets.manifest.json")))
    cmp -s reference/soak/sets.csv "p$i/soak/sets.csv" || { echo "FAIL: process $i's CSV differs"; exit 1; }
done
runs=$(jq -r '.runs | length' p1/soak/sets.manifest.json)
if [ "$trained" = "$runs" ]; then
    echo "$processes processes on one cache: $runs runs trained $trained times in all; CSVs byte-identical"
else
    echo "FAIL: $processes processes trained $trained runs for $runs"; exit 1
fi
