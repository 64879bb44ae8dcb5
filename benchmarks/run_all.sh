#!/usr/bin/env bash
# Runs every benchmark in turn (127.0.0.1 only, each bounded in time), then prints one table:
# each job's floor (the least work for it, measured in the same run), what the code does, and
# the ratio between them (benchmarks/floor.py). Machines differ 2-3x between runs; compare
# ratios, not absolute figures. bench_storage.py (PostgreSQL clusters, killed processes) runs
# on its own: `python3 benchmarks/bench_storage.py`.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
order=()
failed=()

run() {
  local name=$1 limit=$2
  shift 2
  echo "== $name"
  order+=("$logs/$name.log")
  if ! timeout --kill-after=10 "$limit" python3 "benchmarks/$name.py" "$@" | tee "$logs/$name.log"; then
    failed+=("$name")
  fi
}

run bench_routing 1800
run bench_voicemail 900
run bench_first_audio 300
run bench_ami 600
run bench_simulation 300
run bench_calendar_sync 900
# the cold load of calendars that define their own time zone (the known zone's row is
# bench_routing's), each variant in a process of its own
echo "== bench_calendar_sync --cold-load 10000 --zones custom,distinct"
order+=("$logs/cold_zones.log")
if ! timeout --kill-after=10 900 python3 benchmarks/bench_calendar_sync.py --cold-load 10000 \
  --zones custom,distinct | tee "$logs/cold_zones.log"; then
  failed+=("bench_calendar_sync --cold-load")
fi

echo
echo "== floors and ratios, this run"
python3 benchmarks/floor.py table "${order[@]}"
echo
echo "== pages at 3,000 users and 100,000 records (a goal in ms, no floor: issue 20)"
timeout --kill-after=10 900 python3 benchmarks/bench_pages.py || failed+=("bench_pages")
if ((${#failed[@]})); then
  echo "failed or timed out: ${failed[*]}" >&2
  exit 1
fi
