#!/usr/bin/env bash
# Build flux from this checkout and install it for the current user.
# Needs only the Rust toolchain (cargo) and coreutils.
set -euo pipefail

usage() {
  cat <<EOF
Usage: install.sh [--uninstall | --help]

Builds flux (cargo build --release) and installs the binary for the current user,
plus shell completions and man pages when this flux version can generate them:
beside the binary's bin/ folder (~/.local/bin: ~/.local/share/man, …/zsh/site-functions,
…/bash-completion), or under \${XDG_DATA_HOME:-~/.local/share} for any other folder.
Prints the line to add to your shell's startup file when man or zsh would not find them.

Install directory, first that applies:
  \$FLUX_INSTALL_DIR            if set and non-empty
  ~/.local/bin                 if it exists or can be created
  \${CARGO_HOME:-~/.cargo}/bin

Every file written is listed in \${XDG_DATA_HOME:-~/.local/share}/flux/install-manifest.txt.

Options:
  --uninstall   remove exactly the files listed in that manifest, then the manifest
  -h, --help    show this help
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }

mode=install
case "$#:${1:-}" in
  0:) ;;
  1:--uninstall) mode=uninstall ;;
  1:-h | 1:--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

# Resolve a relative FLUX_INSTALL_DIR against the caller's cwd, before we cd away.
install_dir=${FLUX_INSTALL_DIR:-}
if [[ -n $install_dir && $install_dir != /* ]]; then install_dir="$PWD/$install_dir"; fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

data_home=${XDG_DATA_HOME:-$HOME/.local/share}
config_home=${XDG_CONFIG_HOME:-$HOME/.config}
manifest="$data_home/flux/install-manifest.txt"

if [[ $mode == uninstall ]]; then
  if [[ ! -f $manifest ]]; then
    echo "No install manifest at $manifest; nothing to uninstall."
    exit 0
  fi
  while IFS= read -r f; do
    # Only absolute paths: a stray relative line must not delete files in this checkout.
    [[ $f == /* ]] || continue
    if [[ -e $f || -L $f ]]; then rm -f -- "$f" && echo "removed $f"
    else echo "already gone: $f"; fi
  done <"$manifest"
  rm -f -- "$manifest"
  echo "removed $manifest"
  exit 0
fi

command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust from https://rustup.rs"

# --locked keeps the build on the tested dependency versions; without a lockfile it would just fail.
if [[ -f Cargo.lock ]]; then cargo build --release --locked
else cargo build --release; fi
built="${CARGO_TARGET_DIR:-target}/release/flux"
[[ -x $built ]] || die "build finished but $built is missing"

if [[ -z $install_dir ]]; then
  if mkdir -p "$HOME/.local/bin" 2>/dev/null; then install_dir="$HOME/.local/bin"
  else install_dir="${CARGO_HOME:-$HOME/.cargo}/bin"; fi
fi
mkdir -p "$install_dir"
bin="$install_dir/flux"
install -m 755 "$built" "$bin"
echo "installed $bin"
written=("$bin")

if [[ ":$PATH:" != *":$install_dir:"* ]]; then
  echo
  echo "$install_dir is not on your PATH. To add it:"
  echo "  bash/zsh: add this line to ~/.bashrc or ~/.zshrc, then open a new shell:"
  echo "    export PATH=\"$install_dir:\$PATH\""
  echo "  fish: run once:"
  echo "    fish_add_path $install_dir"
  echo
fi

# Shared files go beside the binary when it is installed into a prefix's bin/ (~/.local/bin:
# ~/.local/share/…, /usr/local/bin: /usr/local/share/…), where man and zsh look for them;
# otherwise under the XDG data folder.
if [[ $(basename "$install_dir") == bin ]]; then share="$(dirname "$install_dir")/share"
else share="$data_home"; fi
notes=()

# Completions: only for shells that are installed, and only if this flux can generate them.
# The scripts ask the `flux` on the PATH for candidates at each Tab.
write_completion() { # <shell> <file>
  command -v "$1" >/dev/null 2>&1 || return 1
  mkdir -p "$(dirname "$2")"
  if "$bin" completions "$1" >"$2.tmp"; then
    mv -f "$2.tmp" "$2"
    echo "completions ($1): $2"
    written+=("$2")
  else
    rm -f "$2.tmp"
    echo "completions ($1): generation failed, skipped" >&2
    return 1
  fi
}
if "$bin" completions bash >/dev/null 2>&1; then
  write_completion bash "$share/bash-completion/completions/flux" || true
  zsh_dir="$share/zsh/site-functions"
  if write_completion zsh "$zsh_dir/_flux"; then
    # A login shell's fpath, with the user's ~/.zshrc read: is the folder on it?
    if ! zsh -ic 'print -rl -- $fpath' </dev/null 2>/dev/null | grep -qxF "$zsh_dir"; then
      notes+=("zsh: add this line to ~/.zshrc before compinit runs (before oh-my-zsh is sourced, if you use it):"
        "    fpath=($zsh_dir \$fpath)")
    fi
  fi
  write_completion fish "$config_home/fish/completions/flux.fish" || true
else
  echo "completions: not supported by this flux version, skipped"
fi

if "$bin" man --help >/dev/null 2>&1; then
  man_dir="$share/man/man1"
  mkdir -p "$man_dir"
  # Pages at least as new as this marker are the ones flux just wrote (not stale older ones).
  marker=$(mktemp)
  trap 'rm -f "$marker"' EXIT
  if "$bin" man --dir "$man_dir" >/dev/null; then
    for page in "$man_dir"/flux*.1; do
      [[ -f $page && ! $page -ot $marker ]] || continue
      written+=("$page")
    done
    echo "man pages: $man_dir/flux*.1"
    # man-db finds <prefix>/share/man for a <prefix>/bin on the PATH; ask it, as a new shell would.
    if command -v man >/dev/null 2>&1 &&
      [[ $(PATH="$install_dir:$PATH" man -w flux-dev 2>/dev/null) != "$man_dir/flux-dev.1"* ]]; then
      notes+=("man: add this line to ~/.bashrc or ~/.zshrc so that 'man flux-dev' finds the pages:"
        "    export MANPATH=\"$(dirname "$man_dir"):\$MANPATH\"")
    fi
  else
    echo "man pages: generation failed, skipped" >&2
  fi
else
  echo "man pages: not supported by this flux version, skipped"
fi

if ((${#notes[@]})); then
  echo
  printf '%s\n' "${notes[@]}"
  echo
fi

# Keep entries from an earlier install that still exist (e.g. a different install dir),
# so --uninstall cleans up everything this script ever put down.
mkdir -p "$(dirname "$manifest")"
{
  printf '%s\n' "${written[@]}"
  if [[ -f $manifest ]]; then
    while IFS= read -r f; do if [[ $f == /* && -e $f ]]; then echo "$f"; fi; done <"$manifest"
  fi
} | sort -u >"$manifest.tmp"
mv -f "$manifest.tmp" "$manifest"
echo "manifest: $manifest (remove everything with: $here/install.sh --uninstall)"
