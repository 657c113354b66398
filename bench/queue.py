#!/usr/bin/env python3
"""Queue benchmark driver for `flux dev` (stdlib only), shaped like ../shared/bench/peers:
bulk-enqueue N jobs while the queue is paused, resume, and time the drain from the attempts'
own execution records; then a trickle of jobs at a steady rate into idle workers for the
enqueue→start latency. Prints `RESULT …` lines. Run through bench/queue.sh."""
import os, sqlite3, sys, time

from fluxapi import Api

N = int(os.environ.get("N", "20000"))
CHUNK = int(os.environ.get("BULK_CHUNK", "1000"))
TRICKLE_N = int(os.environ.get("TRICKLE_N", "2000"))
TRICKLE_RATE = float(os.environ.get("TRICKLE_RATE", "500"))
TRICKLE_WARMUP = int(os.environ.get("TRICKLE_WARMUP", "50"))
MEMORY_N = int(os.environ.get("MEMORY_N", "0"))

url, project, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
api = Api(url)
call = api.call


def store():
    return sqlite3.connect(os.path.join(project, ".flux", "flux.db"), timeout=30)


def counts(name):
    return api.stats(name)


def rss_mb(field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) // 1024
    return -1


def bulk(name, n):
    call("POST", "/_flux/api/queue/pause")
    t0 = time.perf_counter()
    for off in range(0, n, CHUNK):
        call("POST", "/_flux/api/jobs", [{"name": name, "data": {"i": i}} for i in range(off, min(n, off + CHUNK))])
    enqueue_rate = n / (time.perf_counter() - t0)
    call("POST", "/_flux/api/queue/resume")
    deadline = time.time() + 600
    while True:
        row = counts(name)
        if row["done"] + row["dead"] >= n:
            break
        if time.time() > deadline:
            raise RuntimeError(f"drain of {name} did not finish: {row}")
        time.sleep(0.05)
    # The drain window comes from the records: first attempt's start to last attempt's end.
    with store() as db:
        first, last, records = db.execute(
            "SELECT min(started_at_us), max(started_at_us + duration_us), count(*) FROM _flux_records "
            "WHERE kind = 'job' AND function = ?", (name,)).fetchone()
    drain_rate = n / ((last - first) / 1e6)
    return enqueue_rate, drain_rate, records, row["dead"]


def trickle(name):
    total = TRICKLE_WARMUP + TRICKLE_N
    interval = 1.0 / TRICKLE_RATE
    start = time.perf_counter()
    ids = []
    for i in range(total):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        job = call("POST", "/_flux/api/jobs", {"name": name, "data": {"i": i}})["jobs"][0]
        if i >= TRICKLE_WARMUP:
            ids.append(job["id"])
    achieved = total / (time.perf_counter() - start)
    deadline = time.time() + 60
    while counts(name)["done"] < total and time.time() < deadline:
        time.sleep(0.05)
    with store() as db:
        rows = db.execute(
            f"SELECT r.started_at_us - j.enqueued_at_us FROM _flux_jobs j JOIN _flux_records r ON r.job_id = j.id "
            f"WHERE j.name = ? AND j.id IN ({','.join('?' * len(ids))})", (name, *ids)).fetchall()
    lat = sorted(r[0] / 1000 for r in rows)
    pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
    return achieved, pct(50), pct(99), len(lat)


mode = os.environ.get("MODE", "all")
if mode == "memory":
    before = rss_mb()
    peak = before
    call("POST", "/_flux/api/queue/pause")
    for off in range(0, MEMORY_N, CHUNK * 10):
        call("POST", "/_flux/api/jobs", [{"name": "noop", "data": {"i": i}} for i in range(off, min(MEMORY_N, off + CHUNK * 10))])
        peak = max(peak, rss_mb())
    call("POST", "/_flux/api/queue/resume")
    t0 = time.time()
    while counts("noop")["done"] < MEMORY_N:
        peak = max(peak, rss_mb())
        time.sleep(0.5)
    elapsed = time.time() - t0
    print(f"RESULT bench=queue-memory jobs={MEMORY_N} rss_before_mb={before} rss_peak_mb={peak} "
          f"rss_after_mb={rss_mb()} growth_mb={peak - before} anon_after_mb={rss_mb('RssAnon')} "
          f"file_after_mb={rss_mb('RssFile')} seconds={elapsed:.0f}", flush=True)
    sys.exit(0)

enq, drain, records, dead = bulk("noop", N)
print(f"RESULT bench=queue workload=noop n={N} enqueue_bulk_per_s={enq:.0f} drain_per_s={drain:.0f} "
      f"records={records} dead={dead}", flush=True)
enq, drain, records, dead = bulk("insert", N)
with store() as db:
    rows = db.execute("SELECT count(*) FROM items").fetchone()[0]
print(f"RESULT bench=queue workload=db-insert n={N} enqueue_bulk_per_s={enq:.0f} drain_per_s={drain:.0f} "
      f"records={records} rows={rows} dead={dead}", flush=True)
achieved, p50, p99, samples = trickle("trickle")
print(f"RESULT bench=queue workload=trickle n={samples} rate={achieved:.0f} enqueue_to_start_p50_ms={p50:.3f} "
      f"enqueue_to_start_p99_ms={p99:.3f}", flush=True)
