#!/usr/bin/env bash
# Queue benchmark of `flux dev`, shaped like ../shared/bench/peers (BullMQ, graphile-worker):
#   bench/queue.sh                      # N=20000 no-op and db-insert jobs, then a 500/s trickle
#   N=5000 bench/queue.sh               # quicker
#   MODE=memory MEMORY_N=1000000 bench/queue.sh   # resident memory while draining 1M jobs
# Every attempt writes its full execution record. Prints `RESULT …` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
CONCURRENCY=${C:-10}
# shellcheck source=bench/lib.sh
. bench/lib.sh

project="$work/queue"
mkdir -p "$project/functions" "$project/migrations"
echo "export default () => {}" >"$project/functions/noop.ts"
echo "export default () => {}" >"$project/functions/trickle.ts"
cat >"$project/functions/insert.ts" <<'TS'
export default async (job, ctx) => {
  await ctx.db.query('INSERT INTO items (n) VALUES ($1)', [job.data.i])
}
TS
echo "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);" >"$project/migrations/001_items.sql"
echo "export default { queue: { concurrency: $CONCURRENCY } }" >"$project/flux.config.ts"

start "$project"
python3 bench/queue.py "$url" "$project" "$pid"
