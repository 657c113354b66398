#!/usr/bin/env bash
# What checking tokens costs per /_flux/ request: `GET /_flux/api/health` under wrk with no
# token needed (loopback), then with `--token`: the admin token, a scoped token (cached after
# its first lookup), and a forged scoped token (a store lookup on every request, then 401).
#
#   bench/tokens.sh                          # DURATION=5 CONNECTIONS=4
#   FLUX_BIN=target/release/flux bench/tokens.sh
#
# Prints `RESULT case=… rps=… p99=…` lines. Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-4}

# shellcheck source=bench/lib.sh
. bench/lib.sh

project="$work/tokens"
mkdir -p "$project/functions"
echo "export default () => 'hi'" >"$project/functions/hello.ts"

load() { # case, then wrk's extra arguments
  local name=$1
  shift
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url/_flux/api/health")
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "RESULT case=$name rps=$rps p99=$p99"
}

start "$project"
load none
stop

start "$project" --token s3cret
scoped=$(FLUX_TOKEN=s3cret "$FLUX" --url "$url" token create --scope read --name bench 2>/dev/null)
forged="flux_read_$(printf 'A%.0s' $(seq 43))"
load admin -H "Authorization: Bearer s3cret"
load scoped -H "Authorization: Bearer $scoped"
load forged -H "Authorization: Bearer $forged"
stop
