#!/usr/bin/env bash
# Durability soak of `flux dev`: mixed HTTP writes and jobs for DURATION seconds, with a SIGKILL
# of flux dev every KILL_EVERY seconds and a full disk midway (the store's folder is a small
# tmpfs; needs root, otherwise that phase is skipped and says so). It ends by checking that
# every 2xx-acknowledged write is stored, every job is done or dead exactly as its last record
# says, none is left running, and the store is within its retention limit. Prints `RESULT …`
# lines and exits non-zero on a broken promise.
#   bench/soak.sh                          # DURATION=600 KILL_EVERY=60 THREADS=8 RATE=200 (requests/s)
#   DURATION=90 KILL_EVERY=30 bench/soak.sh  # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

project="$work/soak"
mkdir -p "$project/functions" "$project/migrations" "$project/.flux"
cat >"$project/migrations/001_soak.sql" <<'SQL'
CREATE TABLE acks (id TEXT PRIMARY KEY, pad TEXT NOT NULL);
CREATE TABLE effects (job_id TEXT PRIMARY KEY, ack TEXT NOT NULL, runs INTEGER NOT NULL DEFAULT 1);
SQL
cat >"$project/functions/put.ts" <<'TS'
// An acknowledged write and the job it enqueues.
export default async (req, ctx) => {
  await ctx.db.insert('acks', { id: req.body.id, pad: req.body.pad })
  await ctx.queue.enqueue('effect', { ack: req.body.id })
  return { ok: true }
}
TS
cat >"$project/functions/effect.ts" <<'TS'
// Writes its effect (idempotently), and fails now and then: ids ending in 7 fail their first
// attempt, ids ending in 99 fail every attempt and end in the dead-letter queue.
export default async (job, ctx) => {
  await ctx.db.query(
    'INSERT INTO effects (job_id, ack) VALUES ($1, $2) ON CONFLICT (job_id) DO UPDATE SET runs = runs + 1',
    [job.id, job.data.ack],
  )
  await new Promise((r) => setTimeout(r, 5))
  if (job.data.ack.endsWith('99')) throw new Error('always fails')
  if (job.data.ack.endsWith('7') && job.attempt === 1) throw new Error('fails once')
}
TS
cat >"$project/flux.config.ts" <<'TS'
export default {
  workers: { effect: { maxAttempts: 3, backoff: { type: 'linear', initialDelay: '50ms' } } },
  retention: { maxSize: '64MB', minAge: '30s' },
  shutdown: { graceSeconds: 2 },
}
TS

mounted=""
unmount() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  pid=""
  [ -n "$mounted" ] && umount -l "$mounted" 2>/dev/null
  cleanup
}
trap unmount EXIT
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o "size=${DISK_SIZE:-512m},mode=0700" tmpfs "$project/.flux" 2>/dev/null; then
  mounted="$project/.flux"
else
  echo "note: not root (or mount refused): the full-disk phase is skipped" >&2
fi

FULL_DISK=${mounted:+1} python3 bench/soak.py "$FLUX" "$project"
