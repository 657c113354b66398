#!/usr/bin/env python3
"""Helpers for bench/io.sh (stdlib only). Prints `RESULT …` lines; exits 1 when a workload did not
complete, so the script can fail that workload and go on with the next.

  io.py port                                   a free TCP port on 127.0.0.1
  io.py drain URL PROJECT NAME N CONFIG        pause, bulk-enqueue N jobs, resume, time the drain
  io.py wrk FILE                               key=value figures of one wrk --latency report
  io.py rss PID STOPFILE                       peak VmRSS (MB) of PID, sampled every 100 ms
"""
import os, re, socket, sqlite3, sys, time

from fluxapi import Api

CHUNK = int(os.environ.get("BULK_CHUNK", "1000"))
DRAIN_TIMEOUT_S = float(os.environ.get("DRAIN_TIMEOUT_S", "120"))


def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def drain(url, project, name, n, config):
    api = Api(url)
    call = api.call

    def counts():
        return api.stats(name)

    # As bench/queue.py: every job is stored before the first attempt starts.
    call("POST", "/_flux/api/queue/pause")
    for off in range(0, n, CHUNK):
        call("POST", "/_flux/api/jobs", [{"name": name, "data": {"i": i}} for i in range(off, min(n, off + CHUNK))])
    call("POST", "/_flux/api/queue/resume")
    deadline = time.time() + DRAIN_TIMEOUT_S
    while True:
        row = counts()
        finished = row["done"] + row["dead"]
        if finished >= n or time.time() > deadline:
            break
        time.sleep(0.1)
    # The drain window comes from the records: first attempt's start to last attempt's end. An
    # unfinished drain reports the rate of what it reached in that window.
    with sqlite3.connect(os.path.join(project, ".flux", "flux.db"), timeout=30) as db:
        first, last, records, ok = db.execute(
            "SELECT min(started_at_us), max(started_at_us + duration_us), count(*), "
            "coalesce(sum(status = 'ok'), 0) FROM _flux_records WHERE kind = 'job' AND function = ?",
            (name,)).fetchone()
    rate = ok / ((last - first) / 1e6) if records and last > first else 0
    complete = finished >= n
    print(f"RESULT bench=io workload=jobs config={config} n={n} drain_per_s={rate:.0f} done={row['done']} "
          f"dead={row['dead']} records={records} ok_records={ok} complete={int(complete)}", flush=True)
    if not complete:
        print(f"io.py: drain of {n} {name} jobs did not finish in {DRAIN_TIMEOUT_S:.0f} s: {row}", file=sys.stderr)
    return complete


def ms(text, label):
    m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)\b", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(path):
    """rps, p50/p99 (ms), requests completed, non-2xx/3xx and socket errors of one wrk report."""
    text = open(path).read()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_errors = sum(int(g) for g in sock.groups()) if sock else 0
    non2xx = int(non2xx.group(1)) if non2xx else 0
    print(f"rps={float(rps.group(1)) if rps else 0:.0f} p50_ms={ms(text, 50):.2f} p99_ms={ms(text, 99):.2f} "
          f"requests={int(total.group(1)) if total else 0} non_2xx={non2xx} socket_errors={socket_errors} "
          f"errors={non2xx + socket_errors}")


def rss(pid, stopfile):
    peak = 0
    while not os.path.exists(stopfile):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            break
        time.sleep(0.1)
    print(peak // 1024)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "port":
        port()
    elif cmd == "drain":
        sys.exit(0 if drain(args[0], args[1], args[2], int(args[3]), args[4]) else 1)
    elif cmd == "wrk":
        wrk(args[0])
    elif cmd == "rss":
        rss(int(args[0]), args[1])
    else:
        sys.exit(f"unknown command {cmd}")
