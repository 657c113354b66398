#!/usr/bin/env bash
# The first load of a large package graph (@faker-js/faker, ~80 ES modules) and how the
# compiled-module cache (.flux/cache/modules) shortens it: the first request after a start
# with no cache, after a code change (a new context: bytecode from memory), and after a
# restart (bytecode from disk). Each figure is that first request's wall time and the CPU
# time flux spent on it (Linux: from /proc, in clock ticks of 10 ms), which a busy machine
# disturbs less.
#   bash bench/packages.sh            (FLUX_BIN=target/debug/flux to skip the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

project="$work/project"
mkdir -p "$project/functions"
cp tests/fixtures/npm/package.json tests/fixtures/npm/package-lock.json "$project/"
(cd "$project" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --silent)
cat >"$project/functions/t.ts" <<'TS'
import { faker } from '@faker-js/faker'
export default () => { faker.seed(42); return faker.person.fullName() }
TS

cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
first() {
  local before wall
  before=$(cpu)
  wall=$(curl -s -o /dev/null -w '%{time_total}' "$url/t")
  echo "${wall}s wall $(( ($(cpu) - before) * 10 ))ms cpu"
}

for run in 1 2 3; do
  rm -rf "$project/.flux/cache"
  start "$project"
  cold=$(first)
  echo "// $run" >>"$project/functions/t.ts"
  for _ in $(seq 100); do grep -q reloaded "$work/dev.log" && break; sleep 0.05; done
  changed=$(first)
  stop
  start "$project"
  restarted=$(first)
  stop
  echo "run $run: no cache $cold; after a code change $changed; after a restart $restarted"
done
