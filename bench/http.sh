#!/usr/bin/env bash
# HTTP benchmark of `flux dev`: a trivial function under load from a second process (wrk),
# with an execution record written for every request; then how soon a record is readable
# through the API after its response; then the idle memory of flux dev on the example.
#
#   bench/http.sh                 # defaults: 10 s of load, 8 connections, 1 wrk thread
#   DURATION=30 CONNECTIONS=16 bench/http.sh
#
# Prints `RESULT key=value …` lines. Needs root (or wrk already installed) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-1}
SAMPLES=${SAMPLES:-200}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
# shellcheck source=bench/lib.sh
. bench/lib.sh

count_records() {
  python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from _flux_records").fetchone()[0])' "$1/.flux/flux.db"
}

# 1. Throughput and latency of a trivial function, every request recorded.
project="$work/trivial"
mkdir -p "$project/functions"
echo "export default () => ({ ok: true })" >"$project/functions/hello.ts"
start "$project"
wrk -t1 -c4 -d2s "$url/hello" >/dev/null # warm-up: JIT-free, but fills caches and the store
before=$(count_records "$project")
# flux's own CPU time (user + system clock ticks) over the load: CPU per request varies far
# less than requests/s with what else the machine is doing, so it shows a regression sooner.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks_before=$(cpu_ticks)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url/hello" >"$work/wrk.txt"
ticks=$(($(cpu_ticks) - ticks_before))
stop
after=$(count_records "$project")
cat "$work/wrk.txt" >&2
python3 - "$work/wrk.txt" "$before" "$after" "$CONNECTIONS" "$ticks" "$(getconf CLK_TCK)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
before, after, conns = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ticks, hz = int(sys.argv[5]), int(sys.argv[6])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
def ms(label):
    m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"RESULT bench=http connections={conns} requests_per_s={rps:.0f} p50_ms={ms(50):.2f} p99_ms={ms(99):.2f} "
      f"requests={total} records_written={after - before} non_2xx={errors.group(1) if errors else 0} "
      f"flux_cpu_us_per_request={ticks * 1e6 / hz / total:.0f}")
PY

# 2. The same trivial function while two jobs spin in `while(true){}`: jobs must not starve HTTP.
cat >"$project/functions/spin.ts" <<'TS'
export default () => { while (true) {} }
TS
echo "export default { workers: { spin: { maxAttempts: 1, timeoutSeconds: 120 } } }" >"$project/flux.config.ts"
start "$project"
for _ in 1 2; do
  curl -s -X POST "$url/_flux/api/jobs" -H 'content-type: application/json' -d '{"name":"spin"}' >/dev/null
done
sleep 0.5
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url/hello" >"$work/wrk-spin.txt"
stop
rm "$project/functions/spin.ts" "$project/flux.config.ts"
python3 - "$work/wrk-spin.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(label):
    m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
print(f"RESULT bench=http-beside-spinning-jobs spinning_jobs=2 requests_per_s={rps:.0f} p50_ms={ms(50):.2f} p99_ms={ms(99):.2f}")
PY

# 3. How soon a request's record is readable through the API after its response.
start "$project"
python3 - "$url" "$SAMPLES" <<'PY'
import json, sys, time, urllib.request, urllib.error
url, samples = sys.argv[1], int(sys.argv[2])
delays = []
for _ in range(samples):
    with urllib.request.urlopen(f"{url}/hello") as response:
        rid = response.headers["x-flux-request-id"]
        response.read()
    done = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_flux/api/records/{rid}") as r:
                r.read()
                break
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
    delays.append((time.perf_counter() - done) * 1000)
delays.sort()
pct = lambda p: delays[min(len(delays) - 1, int(p / 100 * len(delays)))]
print(f"RESULT bench=record-visibility samples={samples} p50_ms={pct(50):.2f} p99_ms={pct(99):.2f} max_ms={delays[-1]:.2f}")
PY
stop

# 4. Resident memory of an idle flux dev on the bundled example.
example="$work/welcome"
"$FLUX" init "$example" >/dev/null 2>&1
start "$example"
python3 - "$url" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(f"{sys.argv[1]}/create_user", data=b'{"email":"a@b.c"}',
                       headers={"content-type": "application/json"})).read()
PY
sleep 2
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "RESULT bench=idle-memory project=examples/welcome rss_mb=$((rss_kb / 1024))"
stop
