#!/usr/bin/env bash
# The dashboard's reads on a store of N records (default 100,000), each a job attempt with a
# console line and a varied payload, a tenth of them failed:
#   bench/dashboard_api.sh          # N=100000
#   N=20000 bench/dashboard_api.sh  # quicker
# Prints `RESULT …` lines: the first page of records, the tenth page by cursor, a filtered
# page, a filter nothing matches (the worst case: every record looked at), searches (rare and
# common text; 2 characters, which the index cannot answer), and the per-minute counts, each the median of 20 calls (5 for the slow ones)
# over a kept-alive connection, measured by the client.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

project="$work/dashboard"
mkdir -p "$project/functions"
cat >"$project/functions/work.ts" <<'TS'
export default (job) => {
  console.log(`handling order ${job.data.order} for ${job.data.email}`)
  if (job.data.order % 10 === 0) throw new Error(`card declined for order ${job.data.order}`)
}
TS
echo "export default { workers: { work: { maxAttempts: 1 } } }" >"$project/flux.config.ts"

start "$project"
python3 - "$url" "${N:-100000}" <<'PY'
import statistics, sys, time
sys.path.insert(0, "bench")
from fluxapi import Api

url, n = sys.argv[1], int(sys.argv[2])
api = Api(url)
api.call("POST", "/_flux/api/queue/pause")
for start in range(0, n, 1000):
    api.call("POST", "/_flux/api/jobs", [
        {"name": "work", "data": {"order": i, "email": f"user{i}@example.com"}}
        for i in range(start, min(start + 1000, n))
    ])
api.call("POST", "/_flux/api/queue/resume")
deadline = time.time() + 600
while True:
    s = api.stats("work")
    if s["done"] + s["dead"] >= n:
        break
    if time.time() > deadline:
        sys.exit(f"drain unfinished: {s}")
    time.sleep(0.5)

def median_ms(path, runs=20):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        body = api.call("GET", path)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), body

first, body = median_ms("/_flux/api/records")
print(f"RESULT records={n} first_page_ms={first:.1f} (100 summaries)")
cursor = None
for _ in range(9):
    cursor = api.call("GET", "/_flux/api/records" + (f"?before={cursor}" if cursor else ""))["next"]
tenth, _ = median_ms(f"/_flux/api/records?before={cursor}")
print(f"RESULT tenth_page_ms={tenth:.1f} (by cursor)")
errors, body = median_ms("/_flux/api/records?status=error")
print(f"RESULT status_error_page_ms={errors:.1f} ({len(body['records'])} summaries)")
none, body = median_ms("/_flux/api/records?status=timeout", runs=5)
print(f"RESULT status_none_ms={none:.1f} ({len(body['records'])} match: every record looked at)")
rare, body = median_ms(f"/_flux/api/records?q=user{n // 2 + 1}%40example")
print(f"RESULT search_rare_ms={rare:.1f} ({len(body['records'])} match)")
common, body = median_ms("/_flux/api/records?q=card%20declined")
print(f"RESULT search_common_ms={common:.1f} (first page of {n // 10} matches)")
short, body = median_ms("/_flux/api/records?q=de")
print(f"RESULT search_short_common_ms={short:.1f} (q=de, {len(body['records'])} summaries: found among the newest)")
short, body = median_ms("/_flux/api/records?q=zq", runs=5)
print(f"RESULT search_short_none_ms={short:.1f} (q=zq, {len(body['records'])} found: the scan's bound reached)")
short, body = median_ms("/_flux/api/records?q=_a", runs=5)
print(f"RESULT search_short_worst_ms={short:.1f} (q=_a: in every record's JSON (started_at_us), in no text, so each record parsed; {len(body['records'])} found)")
short, body = median_ms("/_flux/api/dead-letter?q=99", runs=5)
print(f"RESULT dead_letter_search_short_ms={short:.1f} (q=99, {len(body['dead'])} of {n // 10} dead)")
minutes, body = median_ms("/_flux/api/stats/minutes?last=1h", runs=5)
print(f"RESULT minutes_ms={minutes:.1f} ({len(body['minutes'])} rows)")
PY
stop
