#!/usr/bin/env python3
"""Durability soak driver (stdlib only); run through bench/soak.sh, which writes the project.

THREADS clients post writes that enqueue jobs for DURATION seconds; every KILL_EVERY seconds
`flux dev` is SIGKILLed and started again; midway (FULL_DISK=1) the store's small disk is filled
for HOLD seconds. Then the queue drains, flux stops, and the store is checked against what the
clients were told. Prints `RESULT …` lines; exits 1 if a promise is broken."""
import errno, http.client, json, os, signal, sqlite3, subprocess, sys, threading, time

flux, project = sys.argv[1], sys.argv[2]
DURATION = float(os.environ.get("DURATION", "600"))
KILL_EVERY = float(os.environ.get("KILL_EVERY", "60"))
THREADS = int(os.environ.get("THREADS", "8"))
RATE = float(os.environ.get("RATE", "200"))  # requests per second, over all clients
HOLD = float(os.environ.get("HOLD", "20"))
FULL_DISK = os.environ.get("FULL_DISK") == "1"
MAX_SIZE = 64 * 1000 * 1000  # retention.maxSize in the project's config
store_dir = os.path.join(project, ".flux")
db_path = os.path.join(store_dir, "flux.db")
log = open(os.path.join(project, "dev.log"), "ab")

server = {"proc": None, "port": None}
lock = threading.Lock()
acked, failed = set(), 0
stop = threading.Event()


def start():
    info = os.path.join(store_dir, "server.json")
    if os.path.exists(info):
        os.remove(info)
    proc = subprocess.Popen([flux, "dev", project, "--port", "0", "--quiet"], stdout=log, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            log.flush()
            with open(os.path.join(project, "dev.log"), "rb") as f:
                tail = f.read()[-2000:].decode(errors="replace")
            sys.exit(f"flux dev exited with {proc.returncode} after {kills_so_far()} kills:\n{tail}")
        try:
            with open(info) as f:
                url = json.load(f)["url"]
            server["port"] = int(url.rsplit(":", 1)[1])
            server["proc"] = proc
            return
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    sys.exit("flux dev did not start within 60 s")


def kills_so_far():
    return server.get("kills", 0)


def kill():
    server["kills"] = kills_so_far() + 1
    proc = server["proc"]
    server["port"] = None
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def request(method, path, body=None, timeout=30):
    port = server["port"]
    if port is None:
        raise ConnectionError("restarting")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers={"content-type": "application/json"} if payload else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def client(n):
    global failed
    i = 0
    pad = "x" * 100
    interval = THREADS / RATE
    next_at = time.time()
    while not stop.is_set():
        next_at += interval
        time.sleep(max(0.0, next_at - time.time()))
        ident = f"c{n}-{i}"
        i += 1
        try:
            status, _ = request("POST", "/put", {"id": ident, "pad": pad})
        except (OSError, http.client.HTTPException):
            status = None
        with lock:
            if status is not None and 200 <= status < 300:
                acked.add(ident)
            else:
                failed += 1
        if status is None:
            time.sleep(0.05)


def fill_disk():
    """Writes a file until the disk is full; returns its path."""
    path = os.path.join(store_dir, "filler")
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    return path


def stats():
    status, body = request("GET", "/_flux/api/queue/stats")
    rows = json.loads(body)["stats"] if status == 200 else []
    return next((r for r in rows if r["function"] == "effect"), {})


started = time.time()
start()
clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(THREADS)]
for t in clients:
    t.start()
kills, full_failed, next_kill, disk_done = 0, None, started + KILL_EVERY, not FULL_DISK
while time.time() - started < DURATION:
    now = time.time()
    if not disk_done and now - started >= DURATION / 2:
        disk_done = True
        with lock:
            before = failed
        filler = fill_disk()
        time.sleep(HOLD)
        os.remove(filler)
        with lock:
            full_failed = failed - before
        print(f"disk full for {HOLD:.0f} s: {full_failed} requests refused meanwhile", flush=True)
    if now >= next_kill:
        kill()
        kills += 1
        start()
        next_kill = time.time() + KILL_EVERY
    time.sleep(0.2)
stop.set()
for t in clients:
    t.join()

# Drain what the load enqueued, then stop cleanly.
deadline = time.time() + 300
while True:
    row = stats()
    waiting = sum(row.get(k, 0) for k in ("pending", "scheduled", "running"))
    if waiting == 0:
        break
    if time.time() > deadline:
        print(f"RESULT soak drain_timeout waiting={waiting}")
        break
    time.sleep(0.5)
server["proc"].send_signal(signal.SIGINT)
server["proc"].wait()

db = sqlite3.connect(db_path)
stored = {row[0] for row in db.execute("SELECT id FROM acks")}
missing = acked - stored
states = dict(db.execute("SELECT state, count(*) FROM _flux_jobs GROUP BY state").fetchall())
# Records are indexed by their id's integer prefix, not the text: join in Python.
record_status = dict(db.execute("SELECT id, status FROM _flux_records"))
mismatched_rows = [
    (job, state, attempts, record_status[last], error)
    for job, state, attempts, last, error in db.execute(
        "SELECT id, state, attempts, last_record, last_error FROM _flux_jobs WHERE state IN ('done', 'dead')"
    )
    if last in record_status
    and ((state == "done") != (record_status[last] == "ok"))
]
mismatched = len(mismatched_rows)
for row in mismatched_rows[:5]:
    print(f"mismatch: job {row[0]} is {row[1]} after {row[2]} attempts, last record {row[3]}: {row[4]}")
effects = {row[0] for row in db.execute("SELECT ack FROM effects")}
no_effect = acked - effects
max_runs = db.execute("SELECT coalesce(max(runs), 0) FROM effects").fetchone()[0]
try:
    own = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE '\\_flux\\_%' ESCAPE '\\'").fetchone()[0] or 0
except sqlite3.OperationalError:
    own = None
db.close()
size = os.path.getsize(db_path)
wal = os.path.getsize(db_path + "-wal") if os.path.exists(db_path + "-wal") else 0

elapsed = time.time() - started
print(f"RESULT soak seconds={elapsed:.0f} kills={kills} requests={len(acked) + failed} acknowledged={len(acked)} refused={failed}"
      + (f" refused_while_disk_full={full_failed}" if full_failed is not None else " full_disk=skipped"))
print(f"RESULT soak acknowledged_missing={len(missing)} jobs={states} jobs_state_vs_record_mismatch={mismatched} "
      f"acknowledged_without_job_effect={len(no_effect)} max_runs_of_one_job={max_runs}")
print(f"RESULT soak store_bytes={size} wal_bytes={wal} flux_own_bytes={own} retention_max={MAX_SIZE}")
broken = []
if missing:
    broken.append(f"{len(missing)} acknowledged writes missing, e.g. {sorted(missing)[:5]}")
stuck = {k: v for k, v in states.items() if k not in ("done", "dead")}
if stuck:
    broken.append(f"jobs not done or dead: {stuck}")
if mismatched:
    broken.append(f"{mismatched} jobs whose state contradicts their last record")
if no_effect:
    broken.append(f"{len(no_effect)} acknowledged writes whose job never wrote its effect")
if own is not None and own > MAX_SIZE * 1.1 + 4_000_000:
    broken.append(f"flux's own tables take {own} bytes, over the {MAX_SIZE} limit")
for b in broken:
    print(f"BROKEN {b}")
sys.exit(1 if broken else 0)
