#!/usr/bin/env bash
# The suite at other dates (issue 12): under Debian's faketime, shifted to each date.
# The shift is an offset from real time ("+Ns"), so every process a test starts (switchboard
# run, PostgreSQL, workers) shares one clock; an absolute faketime date would restart each
# child process at that date. The monotonic clock is left alone (with it faked, timed waits in
# threads never return); scripts/faketime/sitecustomize.py then gives Python a time.sleep that
# works under libfaketime. The dates are UTC (02:30 local on 28 March 2027 does not
# exist: the clocks jump from 02:00 to 03:00). Usage: bash scripts/test-dates.sh [pytest args…]
set -uo pipefail
cd "$(dirname "$0")/.."
dates=("2026-12-02 12:00:00" "2027-03-28 02:30:00" "2026-12-24 10:00:00" "2031-06-01 10:00:00")
failed=0
for at in "${dates[@]}"; do
  target=$(date -u -d "$at" +%s) || exit 2
  offset=$(( target - $(date +%s) ))
  shift_by=$([ "$offset" -lt 0 ] && echo "${offset}s" || echo "+${offset}s")
  echo "== pytest at $at UTC (faketime $shift_by)"
  if ! TZ=Europe/Stockholm FAKETIME_DONT_FAKE_MONOTONIC=1 \
    PYTHONPATH="$PWD/scripts/faketime${PYTHONPATH:+:$PYTHONPATH}" \
    faketime -f "$shift_by" python3 -m pytest -q -p no:cacheprovider "$@"; then
    echo "FAILED at $at"
    failed=1
  fi
done
exit "$failed"
