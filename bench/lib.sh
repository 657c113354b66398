# Shared by the bench scripts: a release build with symbols (Cargo.toml's `profiling` profile,
# so that perf can name functions), a scratch folder removed on exit, and
# `start DIR [FLUX DEV ARGS...]` / `stop` for a quiet `flux dev` on a free port (sets $pid and
# $url).
# FLUX_BIN=path runs that binary instead (e.g. a debug build, to try a script quickly).
if [ -n "${FLUX_BIN:-}" ]; then
  FLUX="$FLUX_BIN"
else
  cargo build --profile profiling --quiet
  FLUX="$PWD/target/profiling/flux"
fi

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start() {
  rm -f "$1/.flux/server.json"
  "$FLUX" dev "$1" --port 0 --quiet "${@:2}" >"$work/dev.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    [ -f "$1/.flux/server.json" ] && break
    sleep 0.05
  done
  url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$1/.flux/server.json")
}

stop() {
  kill -INT "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}
