#!/usr/bin/env bash
# Regenerates the files derived from the command-line definition: shell completions in
# completions/ and man pages in man/. The test suite fails while they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
flux=target/debug/flux
mkdir -p completions
"$flux" completions bash >completions/flux.bash
"$flux" completions zsh >completions/_flux
"$flux" completions fish >completions/flux.fish
"$flux" completions powershell >completions/_flux.ps1
"$flux" completions elvish >completions/flux.elv
rm -rf man
"$flux" man --dir man >/dev/null
echo "regenerated completions/ and man/"
