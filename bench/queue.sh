#!/usr/bin/env bash
# Queue benchmark of `flux dev`, shaped like ../shared/bench/peers (BullMQ, graphile-worker):
#   bench/queue.sh                      # N=20000 no-op and db-insert jobs, then a 500/s trickle
#   N=5000 bench/queue.sh               # quicker
#   MODE=memory MEMORY_N=1000000 bench/queue.sh   # resident memory while draining 1M jobs
# Every attempt writes its full execution record. Prints `RESULT …` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
FLUX="$PWD/target/release/flux"
CONCURRENCY=${C:-10}

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

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

"$FLUX" dev "$project" --port 0 --quiet >"$work/dev.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  [ -f "$project/.flux/server.json" ] && break
  sleep 0.05
done
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$project/.flux/server.json")
python3 bench/queue.py "$url" "$project" "$pid"
