#!/usr/bin/env bash
# flux serve on PostgreSQL: PROCESSES (3) processes on one throwaway database, beside
# graphile-worker on its own throwaway database in the same run.
#   bench/pg.sh                    # MODE=drain: no-op and db-insert drains (N=20000), a 500/s trickle
#                                  # (WORKLOADS=noop,db-insert,trickle picks)
#   PEERS=1 bench/pg.sh            # + ../shared/bench/peers/graphile-worker.sh noop db-insert first
#   MODE=kill bench/pg.sh          # SIGKILL one of 3 every 10 s while KILL_N=10000 jobs drain
#   MODE=deploy bench/pg.sh        # a deploy under steady HTTP load on every process
#   MODE=rounds bench/pg.sh        # ROUNDS=4 db-insert drains on one database, emptied and
#                                  # analysed between them (a long-lived queue's bursts)
# Needs the peers' lib (../shared/bench/peers/lib/common.sh) for the PostgreSQL cluster: it is
# started by PID and stopped by PID. FLUX_BIN=path runs that binary instead of a release build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peers="${PEERS_DIR:-$root/../shared/bench/peers}"
C=${C:-10}
N=${N:-20000}
export N C

if [ "${PEERS:-0}" = 1 ]; then
  peer_results="$( (cd "$peers" && N="$N" C="$C" ./graphile-worker.sh noop db-insert) 2>&1 | grep -E '^RESULT|ERROR' || true)"
  echo "$peer_results"
  # Each flux drain then prints its ratio to graphile-worker's same workload.
  peer_drain() { echo "$peer_results" | sed -n "s/.*workload=$1 .*drain_per_s=\([0-9.]*\).*/\1/p"; }
  GRAPHILE_NOOP_PER_S="$(peer_drain noop)"
  GRAPHILE_DB_INSERT_PER_S="$(peer_drain db-insert)"
  export GRAPHILE_NOOP_PER_S GRAPHILE_DB_INSERT_PER_S
fi

if [ -n "${FLUX_BIN:-}" ]; then
  FLUX="$FLUX_BIN"
else
  (cd "$root" && cargo build --release --quiet)
  FLUX="$root/target/release/flux"
fi
export FLUX

# shellcheck source=/dev/null
source "$peers/lib/common.sh"
start_postgres
PSQL="$PG_BIN/psql"
# flux connects as a database owner that is not a superuser, as the README asks.
"$PSQL" -X -q "$PG_URL" -c "CREATE ROLE flux LOGIN CREATEROLE" -c "CREATE DATABASE fluxbench OWNER flux"
FLUX_DATABASE_URL="${PG_URL%/*}/fluxbench"
FLUX_DATABASE_URL="${FLUX_DATABASE_URL/postgres@/flux@}"
export PSQL FLUX_DATABASE_URL PG_PID

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/flux-pg-bench.XXXXXX")"
_DIRS_TO_REMOVE+=("$WORK")
PROJECT="$WORK/project"
export WORK PROJECT
mkdir -p "$PROJECT/functions" "$PROJECT/migrations"
echo "export default () => {}" >"$PROJECT/functions/noop.ts"
echo "export default () => {}" >"$PROJECT/functions/trickle.ts"
echo "export default () => ({ version: 1 })" >"$PROJECT/functions/version.ts"
cat >"$PROJECT/functions/insert.ts" <<'TS'
export default async (job, ctx) => {
  await ctx.db.query('INSERT INTO bench_rows (job_id, n) VALUES ($1, $2)', [job.id, job.data.i])
}
TS
cat >"$PROJECT/functions/slow.ts" <<'TS'
// A job long enough that a killed process is often in the middle of some.
export default async (job, ctx) => {
  await new Promise((resolve) => setTimeout(resolve, 100))
  await ctx.db.query('INSERT INTO kill_rows (n) VALUES ($1)', [job.data.i])
}
TS
cat >"$PROJECT/migrations/001_bench.sql" <<'SQL'
CREATE TABLE bench_rows (id bigserial PRIMARY KEY, job_id text NOT NULL, n integer NOT NULL);
CREATE TABLE kill_rows (n integer NOT NULL);
SQL
cat >"$PROJECT/flux.config.ts" <<TS
export default { queue: { concurrency: $C, lease: '${LEASE:-5s}' } }
TS

python3 "$root/bench/pg.py"
