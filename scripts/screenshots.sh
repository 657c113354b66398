#!/usr/bin/env bash
# Regenerates docs/dashboard-*.png, the README's pictures of the dashboard: starts flux dev on
# a copy of examples/welcome, plays the product story (a user signs up and gets the welcome
# email; a welcome job for a user who does not exist fails three times and is dead-lettered;
# a few more sign-ups), then has headless Chromium draw each main page.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
chromium=${FLUX_CHROMIUM:-chromium}
command -v "$chromium" >/dev/null || { echo "needs Chromium (apt-get install chromium)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
cargo build --quiet
# bench/lib.sh's scratch folder and start/stop of a quiet flux dev, on the debug build.
FLUX_BIN=${FLUX_BIN:-$repo/target/debug/flux}
. bench/lib.sh
cp -r examples/welcome "$work/app"
start "$work/app"
post() { curl -fsS -X POST "$url$1" -H 'content-type: application/json' -d "$2"; }

post /create_user '{"email":"ada@example.com","name":"Ada"}' >/dev/null
post /_flux/api/jobs '{"name":"send_welcome_email","data":{"userId":"u_0000000000000000","email":"grace@example.com"}}' >/dev/null
for name in Alan Barbara Edsger Frances Ken; do
  post /create_user "{\"email\":\"${name,,}@example.com\",\"name\":\"$name\"}" >/dev/null
done
# The failing job's three attempts take a few seconds (linear backoff).
for _ in $(seq 150); do
  curl -fsS "$url/_flux/api/dead-letter" | grep -q job_id && break
  sleep 0.1
done
failed=$(curl -fsS "$url/_flux/api/dead-letter" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -1)
created=$(curl -fsS "$url/_flux/api/records?fn=create_user&limit=1" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -1)

shoot() {
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --hide-scrollbars --window-size=1280,"$3" \
    --virtual-time-budget=4000 --screenshot="$repo/docs/dashboard-$1.png" "$url/_flux/#/$2" \
    >/dev/null 2>&1
}
mkdir -p "$repo/docs"
shoot runs runs 560
shoot run "run/$created" 980
shoot failed-run "run/$failed" 900
shoot queue queue 900
shoot charts charts 620
echo "wrote docs/dashboard-{runs,run,failed-run,queue,charts}.png"
