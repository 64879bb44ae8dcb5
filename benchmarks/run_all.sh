#!/usr/bin/env bash
# Runs every benchmark in turn and prints their figures.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bench_routing bench_calendar_sync bench_voicemail bench_ami bench_simulation; do
  echo "== $b"
  python3 "benchmarks/$b.py"
done
