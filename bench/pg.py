#!/usr/bin/env python3
"""`flux serve` on PostgreSQL: PROCESSES processes on one database (stdlib only; psql reads the
store). Run through bench/pg.sh, which starts the database. Prints `RESULT …` lines.

MODE=drain   bulk no-op and db-insert drains across every process (each attempt writes its full
             record), then a trickle of jobs at a steady rate for the enqueue→start latency
             (WORKLOADS=noop,db-insert,trickle picks); each drain reports the CPU time per job
             of the flux processes and of PostgreSQL (and PostgreSQL's for the functions' SQL
             and for flux's own statements), and the context switches per job of each; with
             PERF_CTL=fifo, a
             `perf record -a --control fifo:fifo -D -1` records the drains and the trickle only
MODE=kill    SIGKILL one process every KILL_EVERY seconds (and start it again, as a supervisor
             would) while KILL_N jobs drain; then checks every job is done or dead, none stuck
             running, and counts the attempts run twice
MODE=deploy  a steady HTTP load on every process while a new version is deployed; counts
             failed requests and how long until every process served the new version
MODE=rounds  ROUNDS db-insert drains on the same database: after each, the processes stop, the
             tables are emptied and the jobs table analysed (an empty queue as pruning leaves
             it, with its statistics), and the processes start again on it before the next
             burst; reports each round and the slowest against the fastest
"""
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

FLUX = os.environ["FLUX"]
DB = os.environ["FLUX_DATABASE_URL"]
PSQL = os.environ["PSQL"]
WORK = os.environ["WORK"]
PROJECT = os.environ["PROJECT"]
TOKEN = os.environ.get("TOKEN", "bench-token-" + "x" * 20)
PROCESSES = int(os.environ.get("PROCESSES", "3"))
N = int(os.environ.get("N", "20000"))
CHUNK = int(os.environ.get("BULK_CHUNK", "1000"))
TRICKLE_N = int(os.environ.get("TRICKLE_N", "2000"))
TRICKLE_RATE = float(os.environ.get("TRICKLE_RATE", "500"))
TRICKLE_WARMUP = int(os.environ.get("TRICKLE_WARMUP", "50"))
KILL_N = int(os.environ.get("KILL_N", "10000"))
KILL_EVERY = float(os.environ.get("KILL_EVERY", "10"))
DEPLOY_SECONDS = float(os.environ.get("DEPLOY_SECONDS", "10"))
WORKLOADS = os.environ.get("WORKLOADS", "noop,db-insert,trickle").split(",")
DRAIN_TIMEOUT = float(os.environ.get("DRAIN_TIMEOUT_S", "600"))
IDLE_REUSE_S = 5


class Api:
    """One process's /_flux/api (and functions) over a kept-alive connection."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.used = time.monotonic()

    def request(self, method, path, body=None):
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"authorization": f"Bearer {TOKEN}"}
        if payload:
            headers["content-type"] = "application/json"
        # flux closes a connection idle past http.headerTimeout (10 s): one idle for long is
        # not reused (a bulk enqueue on another process's connection can take that long).
        if time.monotonic() - self.used > IDLE_REUSE_S:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.used = time.monotonic()
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            self.used = time.monotonic()
            return response.status, data
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise

    def call(self, method, path, body=None):
        status, data = self.request(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path} on :{self.port}: {status} {data[:300]!r}")
        return json.loads(data) if data else None


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, children=False):
    """CPU time a process used (its threads'; with `children`, also its reaped children's)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICK


def context_switches(pid):
    """Voluntary and involuntary context switches of every thread of a process."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                total += sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
    except (OSError, ValueError, IndexError):
        pass
    return total


def postgres_backends():
    """The cluster's processes alive now, each as (pid, part, CPU seconds, context switches):
    part is `sql` for a backend of the functions' role (`<database>_flux_sql`), `flux` for one
    of flux's own role, `other` for the rest (WAL writer, autovacuum, checkpointer, psql)."""
    postmaster = int(os.environ["PG_PID"])
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != postmaster:
                continue
            with open(f"/proc/{entry}/cmdline") as f:
                words = f.read().replace("\0", " ").split()
        except (OSError, ValueError, IndexError):
            continue
        # A backend's title: `postgres: <role> <database> <client> <activity>`.
        role = words[1] if len(words) > 3 else ""
        part = "sql" if role.endswith("_flux_sql") else "flux" if role == "flux" else "other"
        pid = int(entry)
        found.append((pid, part, cpu_seconds(pid), context_switches(pid)))
    return found


def perf_control(command):
    """Tells a `perf record --control fifo:PERF_CTL -D -1` to record only the measured windows."""
    if os.environ.get("PERF_CTL"):
        with open(os.environ["PERF_CTL"], "w") as fifo:
            fifo.write(command + "\n")


class CpuMeter:
    """CPU time and context switches per job of the flux processes and of PostgreSQL, from its
    start to `per_job`; PostgreSQL's CPU also by part: the functions' SQL (`sql`), flux's own
    statements (claims, records: `flux`) and the rest. The window `perf` records with PERF_CTL."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.start = self.read()
        perf_control("enable")

    def read(self):
        postmaster = int(os.environ["PG_PID"])
        backends = {pid: (part, cpu, switches) for pid, part, cpu, switches in postgres_backends()}
        flux_cpu = sum(cpu_seconds(node.proc.pid) for node in self.nodes)
        flux_switches = sum(context_switches(node.proc.pid) for node in self.nodes)
        # Reaped backends' time is the postmaster's children's.
        postgres = cpu_seconds(postmaster, children=True) + sum(c for _, c, _ in backends.values())
        return flux_cpu, postgres, backends, flux_switches

    def per_job(self, n):
        """Returns the flux processes' and PostgreSQL's CPU microseconds per job, and the
        breakdown as `RESULT` fields."""
        perf_control("disable")
        end = self.read()
        flux_us, postgres_us = ((b - a) * 1e6 / n for a, b in zip(self.start[:2], end[:2]))
        parts = {"sql": 0.0, "flux": 0.0}
        postgres_switches = 0
        for pid, (part, cpu, switches) in end[2].items():
            _, cpu_then, switches_then = self.start[2].get(pid, (part, 0.0, 0))
            if part in parts:
                parts[part] += cpu - cpu_then
            postgres_switches += switches - switches_then
        detail = (f"cpu_us_per_job_postgres_sql={parts['sql'] * 1e6 / n:.0f} "
                  f"cpu_us_per_job_postgres_flux={parts['flux'] * 1e6 / n:.0f} "
                  f"switches_per_job_flux={(end[3] - self.start[3]) / n:.1f} "
                  f"switches_per_job_postgres={postgres_switches / n:.1f}")
        return flux_us, postgres_us, detail


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `flux serve` process with its own --data folder and port."""

    def __init__(self, index):
        self.index = index
        self.data = os.path.join(WORK, f"node{index}")
        self.port = free_port()
        self.proc = None

    def start(self):
        log = open(os.path.join(WORK, f"node{self.index}.log"), "ab")
        self.proc = subprocess.Popen(
            [FLUX, "serve", "--database", DB, "--data", self.data, "--port", str(self.port),
             "--token", TOKEN, "--quiet"],
            stdout=log, stderr=log, env={**os.environ, "FLUX_DATABASE_URL": ""})
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"flux serve {self.index} exited: see {log.name}")
            try:
                Api(self.port).call("GET", "/_flux/api/health")
                return self
            except (OSError, RuntimeError, http.client.HTTPException):
                time.sleep(0.05)
        raise RuntimeError(f"flux serve {self.index} did not answer within 60 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def url(self):
        return f"http://127.0.0.1:{self.port}"


def sql(query):
    out = subprocess.run([PSQL, "-X", "-At", "-F", " ", DB, "-c", query], check=True,
                         capture_output=True, text=True).stdout
    return [line.split(" ") for line in out.splitlines() if line]


def deploy(node, message):
    subprocess.run([FLUX, "deploy", PROJECT, "--to", node.url(), "--token", TOKEN, "-m", message],
                   check=True, capture_output=True)


def serving(nodes, path, expect):
    """Waits until every process answers `path` with `expect`; returns how long it took."""
    t0 = time.time()
    for node in nodes:
        api = Api(node.port)
        while True:
            try:
                status, body = api.request("GET", path)
                if status == 200 and json.loads(body) == expect:
                    break
            except (OSError, ValueError, http.client.HTTPException):
                pass
            if time.time() - t0 > 60:
                raise RuntimeError(f"process {node.index} does not serve {path} = {expect}")
            time.sleep(0.02)
    return time.time() - t0


def counts(api, name):
    for row in api.call("GET", "/_flux/api/queue/stats")["stats"]:
        if row["function"] == name:
            return row
    return {"done": 0, "dead": 0, "pending": 0, "running": 0, "scheduled": 0}


def wait_drained(api, name, n, timeout=DRAIN_TIMEOUT):
    deadline = time.time() + timeout
    while True:
        row = counts(api, name)
        if row["done"] + row["dead"] >= n:
            return row
        if time.time() > deadline:
            raise RuntimeError(f"drain of {name} did not finish: {row}")
        # The drain is timed from the records; polling stats once a second keeps its scans of
        # the jobs table out of the way.
        time.sleep(1)


def bulk(nodes, name, n):
    apis = [Api(node.port) for node in nodes]
    for api in apis:
        api.call("POST", "/_flux/api/queue/pause")
    t0 = time.perf_counter()
    for off in range(0, n, CHUNK):
        apis[0].call("POST", "/_flux/api/jobs",
                     [{"name": name, "data": {"i": i}} for i in range(off, min(n, off + CHUNK))])
    enqueue_rate = n / (time.perf_counter() - t0)
    meter = CpuMeter(nodes)
    for api in apis:
        api.call("POST", "/_flux/api/queue/resume")
    row = wait_drained(apis[0], name, n)
    flux_us, postgres_us, detail = meter.per_job(n)
    # The drain window comes from the records: first attempt's start to last attempt's end.
    [[first, last, records]] = sql(
        "SELECT min(started_at_us), max(started_at_us + duration_us), count(*) FROM _flux_records "
        f"WHERE kind = 'job' AND function = '{name}'")
    cpu = f"cpu_us_per_job_flux={flux_us:.0f} cpu_us_per_job_postgres={postgres_us:.0f} {detail}"
    return enqueue_rate, n / ((int(last) - int(first)) / 1e6), int(records), row["dead"], cpu


def trickle(nodes, name):
    """Jobs enqueued at TRICKLE_RATE, each at its own time (up to 16 requests in flight, as the
    peers' paced producer), through process 0; returns the rate achieved and the enqueue→start
    percentiles."""
    total = TRICKLE_WARMUP + TRICKLE_N
    interval = 1.0 / TRICKLE_RATE
    ids = []
    lock = threading.Lock()
    slots = iter(range(total))
    # Each sender connects before the first job, as the peers' producer does.
    clock = {}
    ready = threading.Barrier(17, action=lambda: clock.setdefault("start", time.perf_counter()))

    def send():
        api = Api(nodes[0].port)
        api.call("GET", "/_flux/api/health")
        ready.wait()
        while True:
            with lock:
                i = next(slots, None)
            if i is None:
                return
            delay = clock["start"] + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            job = api.call("POST", "/_flux/api/jobs", {"name": name, "data": {"i": i}})["jobs"][0]
            if i >= TRICKLE_WARMUP:
                with lock:
                    ids.append(job["id"])

    meter = CpuMeter(nodes)
    senders = [threading.Thread(target=send) for _ in range(16)]
    for sender in senders:
        sender.start()
    ready.wait()
    start = clock["start"]
    for sender in senders:
        sender.join()
    achieved = total / (time.perf_counter() - start)
    wait_drained(Api(nodes[0].port), name, total, 60)
    flux_us, postgres_us, _ = meter.per_job(total)
    elapsed = time.perf_counter() - start
    cpu = (f"cpu_us_per_job_flux={flux_us:.0f} cpu_us_per_job_postgres={postgres_us:.0f} "
           f"cpu_busy={(flux_us + postgres_us) * total / 1e6 / elapsed / os.cpu_count():.2f}")
    quoted = ",".join(f"'{i}'" for i in ids)
    rows = sql("SELECT r.started_at_us - j.enqueued_at_us FROM _flux_jobs j "
               f"JOIN _flux_records r ON r.job_id = j.id WHERE j.id IN ({quoted})")
    lat = sorted(int(r[0]) / 1000 for r in rows)
    pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
    return achieved, pct(50), pct(99), len(lat), cpu


def to_peer(variable, drain):
    """` vs_graphile_worker=<ratio>` when PEERS=1 measured graphile-worker's same drain."""
    peer = os.environ.get(variable)
    return f" vs_graphile_worker={drain / float(peer):.2f}" if peer and float(peer) > 0 else ""


def mode_drain(nodes):
    if "noop" in WORKLOADS:
        enq, drain, records, dead, cpu = bulk(nodes, "noop", N)
        print(f"RESULT bench=pg workload=noop processes={len(nodes)} n={N} enqueue_bulk_per_s={enq:.0f} "
              f"drain_per_s={drain:.0f}{to_peer('GRAPHILE_NOOP_PER_S', drain)} records={records} "
              f"dead={dead} {cpu}", flush=True)
    if "db-insert" in WORKLOADS:
        enq, drain, records, dead, cpu = bulk(nodes, "insert", N)
        [[rows]] = sql("SELECT count(*) FROM bench_rows")
        print(f"RESULT bench=pg workload=db-insert processes={len(nodes)} n={N} enqueue_bulk_per_s={enq:.0f} "
              f"drain_per_s={drain:.0f}{to_peer('GRAPHILE_DB_INSERT_PER_S', drain)} records={records} "
              f"rows={rows} dead={dead} {cpu}", flush=True)
    if "trickle" in WORKLOADS:
        achieved, p50, p99, samples, cpu = trickle(nodes, "trickle")
        print(f"RESULT bench=pg workload=trickle processes={len(nodes)} n={samples} rate={achieved:.0f} "
              f"enqueue_to_start_p50_ms={p50:.3f} enqueue_to_start_p99_ms={p99:.3f} {cpu}", flush=True)


def mode_kill(nodes):
    api = Api(nodes[0].port)
    for off in range(0, KILL_N, CHUNK):
        api.call("POST", "/_flux/api/jobs",
                 [{"name": "slow", "data": {"i": i}} for i in range(off, min(KILL_N, off + CHUNK))])
    kills = 0
    t0 = time.time()
    next_kill = t0 + KILL_EVERY
    while True:
        alive = [n for n in nodes if n.proc.poll() is None]
        try:
            row = counts(Api(alive[0].port), "slow")
        except (OSError, RuntimeError, http.client.HTTPException):
            continue
        if row["done"] + row["dead"] >= KILL_N:
            break
        if time.time() - t0 > DRAIN_TIMEOUT:
            raise RuntimeError(f"the drain under kills did not finish: {row}")
        if time.time() >= next_kill:
            victim = random.choice(nodes)
            victim.kill()
            kills += 1
            victim.start()
            next_kill += KILL_EVERY
        time.sleep(0.05)
    elapsed = time.time() - t0
    [[jobs, done, dead, stuck]] = sql(
        "SELECT count(*), count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'dead'), "
        "count(*) FILTER (WHERE state NOT IN ('done', 'dead')) FROM _flux_jobs WHERE name = 'slow'")
    [[interrupted, twice]] = sql(
        "SELECT count(*) FILTER (WHERE status = 'interrupted'), "
        "(SELECT count(*) FROM (SELECT job_id FROM _flux_records WHERE kind = 'job' AND function = 'slow' "
        "AND status = 'ok' GROUP BY job_id HAVING count(*) > 1) t) "
        "FROM _flux_records WHERE kind = 'job' AND function = 'slow'")
    [[rows, distinct]] = sql("SELECT count(*), count(DISTINCT n) FROM kill_rows")
    ok = int(jobs) == KILL_N and int(done) + int(dead) == KILL_N and int(stuck) == 0 and int(distinct) == KILL_N
    print(f"RESULT bench=pg workload=kill processes={len(nodes)} n={KILL_N} kills={kills} seconds={elapsed:.0f} "
          f"jobs={jobs} done={done} dead={dead} not_finished={stuck} interrupted_attempts={interrupted} "
          f"jobs_done_twice={twice} rows={rows} distinct_rows={distinct} ok={int(ok)}", flush=True)
    if not ok:
        sys.exit(1)


def mode_deploy(nodes):
    stop = threading.Event()
    results = {"ok": 0, "failed": 0, "errors": []}
    lock = threading.Lock()

    def load(node):
        api = Api(node.port)
        while not stop.is_set():
            try:
                status, body = api.request("GET", "/version")
                good = status == 200
            except (OSError, http.client.HTTPException) as e:
                good, status, body = False, 0, str(e).encode()
            with lock:
                if good:
                    results["ok"] += 1
                else:
                    results["failed"] += 1
                    results["errors"].append(f"{status} {body[:120]!r}")

    threads = [threading.Thread(target=load, args=(node,)) for node in nodes for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(DEPLOY_SECONDS / 2)
    with open(os.path.join(PROJECT, "functions", "version.ts"), "w") as f:
        f.write("export default () => ({ version: 2 })\n")
    t0 = time.time()
    deploy(random.choice(nodes), "v2")
    deployed = time.time() - t0
    everywhere = serving(nodes, "/version", {"version": 2})
    time.sleep(DEPLOY_SECONDS / 2)
    stop.set()
    for t in threads:
        t.join()
    print(f"RESULT bench=pg workload=deploy processes={len(nodes)} requests={results['ok'] + results['failed']} "
          f"failed={results['failed']} deploy_s={deployed:.2f} all_switched_s={everywhere:.2f}", flush=True)
    for error in results["errors"][:5]:
        print(f"  failed: {error}", file=sys.stderr)
    if results["failed"]:
        sys.exit(1)


def mode_rounds(nodes):
    drains = []
    for number in range(int(os.environ.get("ROUNDS", "4"))):
        if number:
            for node in nodes:
                node.stop()
            sql("TRUNCATE _flux_jobs, _flux_records, _flux_mutations, bench_rows")
            sql("ANALYZE _flux_jobs")
            for node in nodes:
                node.start()
            serving(nodes, "/version", {"version": 1})
        enq, drain, records, dead, cpu = bulk(nodes, "insert", N)
        drains.append(drain)
        print(f"RESULT bench=pg workload=rounds round={number} processes={len(nodes)} n={N} "
              f"drain_per_s={drain:.0f} records={records} dead={dead} {cpu}", flush=True)
    print(f"RESULT bench=pg workload=rounds rounds={len(drains)} slowest_per_s={min(drains):.0f} "
          f"fastest_per_s={max(drains):.0f} slowest_to_fastest={min(drains) / max(drains):.2f}",
          flush=True)


def main():
    nodes = [Node(i) for i in range(PROCESSES)]
    try:
        for node in nodes:
            node.start()
        deploy(nodes[0], "v1")
        serving(nodes, "/version", {"version": 1})
        # queue.concurrency applies from a process's start: started again, as `flux serve`
        # says after a deploy that changes it, the processes run the project's config.
        for node in nodes:
            node.stop()
        for node in nodes:
            node.start()
        serving(nodes, "/version", {"version": 1})
        {"drain": mode_drain, "kill": mode_kill, "deploy": mode_deploy,
         "rounds": mode_rounds}[os.environ.get("MODE", "drain")](nodes)
    finally:
        for node in nodes:
            node.stop()


main()
