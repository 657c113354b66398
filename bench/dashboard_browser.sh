#!/usr/bin/env bash
# The dashboard's runs page in headless Chromium (tests/it/dashboard_bench.rs, an ignored
# test, against the bench build of flux): a store of N records (default 100,000) filled
# through the queue, the first page of runs drawn (five loads), then a burst of RATE runs a
# second (default 1,000) for DURATION seconds (default 10) with the page open:
#   bench/dashboard_browser.sh
#   N=20000 DURATION=5 bench/dashboard_browser.sh   # quicker
# Prints `RESULT …` lines: the time to the first page of runs painted, the records call's own
# time, the longest main-thread task and frame gap during the burst, and how soon after the
# burst the newest runs were all in the list; then flux dev's resident memory on the example,
# idle and after the dashboard's pages were used. Needs Chromium (installed from Debian if
# missing).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

FLUX_BIN="$FLUX" nice -n 19 cargo test --test it --quiet -- --ignored \
  dashboard_bench:: --nocapture --test-threads 1 2>&1 |
  tee "$work/test.log" | grep -o 'RESULT.*' || { cat "$work/test.log"; exit 1; }
