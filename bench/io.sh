#!/usr/bin/env bash
# I/O-bound benchmarks of `flux dev`: executions that spend their time awaiting a slow upstream
# (`node ../shared/bench/peers/lib/upstream.js`, answering after IO_DELAY_MS).
#
#   bench/io.sh [jobs] [http] [memory] [spin]   # default: all four
#   PEERS=1 bench/io.sh jobs http                # + BullMQ's io-fetch drain and, for http, Node's
#                                                  own http server + fetch (bench/node_http_peer.js)
#                                                  in the same run (../shared/bench/peers/bullmq.sh:
#                                                  Redis, npm ci)
#
#   jobs    IO_N (5000) jobs, each awaiting fetch() of the upstream (IO_DELAY_MS=50), drained with
#           workers.io.concurrency = queue.concurrency = IO_C (100), then with the default config
#   http    wrk -c200 on a function awaiting the upstream while wrk -c4 loads a trivial one
#   memory  peak resident memory of flux dev with MEM_IN_FLIGHT (1000) requests each awaiting a
#           2 s upstream (http.concurrency MEM_HTTP_C, default MEM_IN_FLIGHT)
#   spin    wrk -c8 on a trivial function while SPIN_N (3) requests spin in `while (true) {}`
#           until http.timeoutSeconds (SPIN_TIMEOUT, 3)
#
# Prints `RESULT bench=io …` lines; exits 1 if a workload failed (it reports what it reached).
# PEERS_DIR defaults to ../shared/bench/peers beside the main checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

IO_N=${IO_N:-5000}
IO_C=${IO_C:-100}
IO_DELAY_MS=${IO_DELAY_MS:-50}
DURATION=${DURATION:-10}
WRK_TIMEOUT=${WRK_TIMEOUT:-10}
MEM_IN_FLIGHT=${MEM_IN_FLIGHT:-1000}
MEM_HTTP_C=${MEM_HTTP_C:-$MEM_IN_FLIGHT}
MEM_DELAY_MS=${MEM_DELAY_MS:-2000}
MEM_DURATION=${MEM_DURATION:-8}
SPIN_N=${SPIN_N:-3}
SPIN_TIMEOUT=${SPIN_TIMEOUT:-3}
SPIN_DURATION=${SPIN_DURATION:-8}
export DRAIN_TIMEOUT_S=${DRAIN_TIMEOUT_S:-120}

workloads=("$@")
[ ${#workloads[@]} -eq 0 ] && workloads=(jobs http memory spin)
for w in "${workloads[@]}"; do
  case "$w" in jobs | http | memory | spin) ;; *) echo "unknown workload $w (jobs http memory spin)" >&2; exit 2 ;; esac
done

if [ -z "${PEERS_DIR:-}" ]; then
  PEERS_DIR=../shared/bench/peers
  # In a git worktree, ../shared is beside the main checkout, not beside the worktree.
  if [ ! -d "$PEERS_DIR" ]; then
    PEERS_DIR="$(dirname "$(git rev-parse --path-format=absolute --git-common-dir)")/../shared/bench/peers"
  fi
fi
[ -f "$PEERS_DIR/lib/upstream.js" ] || { echo "no upstream.js in PEERS_DIR=$PEERS_DIR" >&2; exit 2; }
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
command -v node >/dev/null || { echo "node not found (needed for the upstream)" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
# 1,000 connections in, 1,000 upstream connections out, plus wrk's own.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck source=bench/lib.sh
. bench/lib.sh

# Everything started here besides flux dev (lib.sh's $pid) is stopped by its PID.
bg_pids=()
io_cleanup() {
  for p in "${bg_pids[@]}"; do
    { kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; } || true
  done
  cleanup
}
trap io_cleanup EXIT

failed=()

# upstream DELAY_MS: starts lib/upstream.js on a free port, sets $upstream.
upstream() {
  local port log="$work/upstream-$1.log"
  port=$(python3 bench/io.py port)
  IO_DELAY_MS="$1" UPSTREAM_PORT="$port" node "$PEERS_DIR/lib/upstream.js" >"$log" 2>&1 &
  bg_pids+=($!)
  for _ in $(seq 100); do
    grep -q ready "$log" && break
    sleep 0.05
  done
  grep -q ready "$log" || { cat "$log" >&2; echo "upstream did not start" >&2; exit 1; }
  upstream="http://127.0.0.1:$port/"
}

# serve DIR: lib.sh's start, failing loudly when flux dev did not come up (e.g. a refused config).
serve() {
  if ! start "$1" 2>/dev/null || [ ! -f "$1/.flux/server.json" ]; then
    cat "$work/dev.log" >&2
    { kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; } || true
    pid=""
    return 1
  fi
}

# project DIR CONFIG: a project whose functions fetch $upstream, with flux.config.ts = CONFIG.
project() {
  rm -rf "$1"
  mkdir -p "$1/functions"
  cat >"$1/functions/io.ts" <<TS
export default async (job, ctx) => {
  const r = await fetch('$upstream')
  await r.text()
}
TS
  cat >"$1/functions/fetchy.ts" <<TS
export default async (req, ctx) => {
  const r = await fetch('$upstream')
  return new Response(await r.text())
}
TS
  echo "export default () => ({ ok: true })" >"$1/functions/hello.ts"
  echo "export default $2" >"$1/flux.config.ts"
}

wrk_figures() { python3 bench/io.py wrk "$1"; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

run_jobs() {
  upstream "$IO_DELAY_MS"
  local config name
  for config in "c$IO_C" default; do
    if [ "$config" = default ]; then
      project "$work/jobs" "{}"
    else
      project "$work/jobs" "{ workers: { io: { concurrency: $IO_C } }, queue: { concurrency: $IO_C } }"
    fi
    serve "$work/jobs" || { failed+=("jobs-$config"); continue; }
    python3 bench/io.py drain "$url" "$work/jobs" io "$IO_N" "$config" || failed+=("jobs-$config")
    stop
  done
  if [ "${PEERS:-0}" = 1 ]; then
    local out="$work/bullmq.txt"
    # bullmq.sh stops its Redis and upstream on the TERM of this bound.
    IO_N=$IO_N IO_C=$IO_C IO_DELAY_MS=$IO_DELAY_MS UPSTREAM_PORT=$(python3 bench/io.py port) \
      timeout --kill-after=20 "${PEER_TIMEOUT_S:-300}" "$PEERS_DIR/bullmq.sh" io-fetch >"$out" || failed+=(bullmq)
    local line
    line=$(grep '^RESULT .*workload=io-fetch' "$out" || true)
    if [ -n "$line" ]; then
      echo "RESULT bench=io peer=bullmq n=$(field "$line" n) c=$(field "$line" c) delay_ms=$(field "$line" delay_ms) drain_per_s=$(field "$line" drain_per_s) ok=$(field "$line" ok)"
    else
      cat "$out" >&2
      echo "bullmq.sh io-fetch printed no RESULT line" >&2
      failed+=(bullmq)
    fi
  fi
}

# wrk_pair URL NAME: wrk -c200 on URL/fetchy while wrk -c4 loads URL/hello; prints the RESULT line.
wrk_pair() {
  wrk -t1 -c4 -d1s "$1/hello" >/dev/null # warm-up
  wrk -t1 -c4 -d1s "$1/fetchy" >/dev/null
  wrk -t1 -c4 -d"${DURATION}s" --timeout "${WRK_TIMEOUT}s" --latency "$1/hello" >"$work/wrk-hello-$2.txt" &
  local trivial=$!
  bg_pids+=($trivial)
  wrk -t1 -c200 -d"${DURATION}s" --timeout "${WRK_TIMEOUT}s" --latency "$1/fetchy" >"$work/wrk-fetchy-$2.txt"
  wait "$trivial"
  cat "$work/wrk-fetchy-$2.txt" "$work/wrk-hello-$2.txt" >&2
  local io trivial_figures
  io=$(wrk_figures "$work/wrk-fetchy-$2.txt")
  trivial_figures=$(wrk_figures "$work/wrk-hello-$2.txt")
  echo "RESULT bench=io workload=http ${2:+$2 }c=200 rps=$(field "$io" rps) p50_ms=$(field "$io" p50_ms) p99_ms=$(field "$io" p99_ms)" \
    "requests=$(field "$io" requests) errors=$(field "$io" errors) trivial_rps=$(field "$trivial_figures" rps)" \
    "trivial_p99_ms=$(field "$trivial_figures" p99_ms) trivial_errors=$(field "$trivial_figures" errors)"
}

run_http() {
  upstream "$IO_DELAY_MS"
  project "$work/http" "{}"
  serve "$work/http" || { failed+=(http); return; }
  wrk_pair "$url" ""
  stop
  if [ "${PEERS:-0}" = 1 ]; then
    local port log="$work/node-peer.log"
    port=$(python3 bench/io.py port)
    UPSTREAM="$upstream" PORT="$port" node bench/node_http_peer.js >"$log" 2>&1 &
    local node_pid=$!
    bg_pids+=($node_pid)
    for _ in $(seq 100); do
      grep -q ready "$log" && break
      sleep 0.05
    done
    if grep -q ready "$log"; then
      wrk_pair "http://127.0.0.1:$port" peer=node
    else
      cat "$log" >&2
      failed+=(node-peer)
    fi
    kill "$node_pid" 2>/dev/null || true
  fi
}

run_memory() {
  upstream "$MEM_DELAY_MS"
  project "$work/memory" "{ server: { maxConnections: $((MEM_IN_FLIGHT + 100)) }, http: { concurrency: $MEM_HTTP_C } }"
  serve "$work/memory" || { failed+=(memory); return; }
  local stopfile="$work/rss.stop" peak
  rm -f "$stopfile"
  python3 bench/io.py rss "$pid" "$stopfile" >"$work/rss.txt" &
  local sampler=$!
  bg_pids+=($sampler)
  wrk -t2 -c"$MEM_IN_FLIGHT" -d"${MEM_DURATION}s" --timeout "${WRK_TIMEOUT}s" --latency "$url/fetchy" >"$work/wrk-memory.txt"
  touch "$stopfile"
  wait "$sampler"
  peak=$(cat "$work/rss.txt")
  stop
  cat "$work/wrk-memory.txt" >&2
  local figures
  figures=$(wrk_figures "$work/wrk-memory.txt")
  echo "RESULT bench=io workload=memory in_flight=$MEM_IN_FLIGHT http_concurrency=$MEM_HTTP_C peak_rss_mb=$peak" \
    "completed=$(field "$figures" requests) errors=$(field "$figures" errors) p50_ms=$(field "$figures" p50_ms)"
}

run_spin() {
  upstream "$IO_DELAY_MS"
  project "$work/spin" "{ http: { timeoutSeconds: $SPIN_TIMEOUT } }"
  echo "export default () => { while (true) {} }" >"$work/spin/functions/spin.ts"
  serve "$work/spin" || { failed+=(spin); return; }
  wrk -t1 -c4 -d1s "$url/hello" >/dev/null # warm-up
  local stopfile="$work/spin.stop" statuses="$work/spin-statuses.txt" spinners=() i
  rm -f "$stopfile" "$statuses"
  # SPIN_N clients each ask for /spin again as soon as the last one was cut off, so the spinning
  # lasts as long as the trivial load does.
  for i in $(seq "$SPIN_N"); do
    (while [ ! -f "$stopfile" ]; do
      curl -s -o /dev/null -w '%{http_code}\n' --max-time $((SPIN_TIMEOUT + 30)) "$url/spin" >>"$statuses" || echo 000 >>"$statuses"
    done) &
    spinners+=($!)
    bg_pids+=($!)
  done
  sleep 0.5 # the spinners are running before the trivial load starts
  wrk -t1 -c8 -d"${SPIN_DURATION}s" --timeout "${WRK_TIMEOUT}s" --latency "$url/hello" >"$work/wrk-spin.txt"
  touch "$stopfile"
  wait "${spinners[@]}"
  stop
  cat "$work/wrk-spin.txt" >&2
  local figures spin_status
  figures=$(wrk_figures "$work/wrk-spin.txt")
  # Each distinct status of the /spin responses with its count, e.g. 504x9.
  spin_status=$(sort "$statuses" | uniq -c | awk '{printf "%s%sx%s", sep, $2, $1; sep=","}')
  echo "RESULT bench=io workload=spin spinning=$SPIN_N trivial_rps=$(field "$figures" rps)" \
    "trivial_p50_ms=$(field "$figures" p50_ms) trivial_p99_ms=$(field "$figures" p99_ms)" \
    "trivial_errors=$(field "$figures" errors) spin_status=$spin_status"
}

for w in "${workloads[@]}"; do
  "run_$w"
  # Each workload stops its upstream, so the next one starts clean.
  for p in "${bg_pids[@]}"; do
    { kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; } || true
  done
  bg_pids=()
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
