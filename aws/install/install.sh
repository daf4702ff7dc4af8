#!/usr/bin/env bash
# Provision an Ubuntu (or AWS Deep Learning) base image for carla-rllib, as the login user:
#   - the CARLA 0.9.16 server in ~/CARLA_0.9.16 (AdditionalMaps optional),
#   - this project's pinned Python stack (requirements.txt next to this script) in a venv,
#   - CARLA_ROOT and the venv on PATH for every shell, interactive or not (Ray's commands,
#     `ssh host cmd`), via a line at the very top of ~/.bashrc.
# Safe to re-run: finished steps are skipped, downloads resume, nothing is appended twice.
#
# Run by `aws_helper.py create-image --installation-scripts aws/install/install.sh`, which uploads
# requirements.txt beside it (its --script-env NAME=VALUE sets the variables below for the run).
# Settings (environment variables, defaults in brackets):
#   CARLA_VERSION [0.9.16]   CARLA_DIR [~/CARLA_$CARLA_VERSION]   CARLA_URL [CARLA's release bucket]
#   ADDITIONAL_MAPS [0]      set to 1 to import AdditionalMaps_$CARLA_VERSION (Town06, Town07, ...)
#   MAPS_URL                 [CARLA's release bucket]
#   CARLA_SHA256, MAPS_SHA256 []  the archives' expected SHA-256, checked before unpacking: a
#                            mismatch stops the install and deletes the archive. CARLA publishes
#                            no checksums, so unset means: print the hash (to pin next time)
#                            and say the archive was not verified.
#   VENV_DIR [~/carla-rllib-venv]   PYTHON [python3]   REQUIREMENTS [requirements.txt beside this]
#   SKIP_APT [0]             set to 1 when the system packages are already there
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CARLA_VERSION="${CARLA_VERSION:-0.9.16}"
CARLA_DIR="${CARLA_DIR:-$HOME/CARLA_$CARLA_VERSION}"
bucket="https://carla-releases.s3.us-east-005.backblazeb2.com/Linux"
CARLA_URL="${CARLA_URL:-$bucket/CARLA_$CARLA_VERSION.tar.gz}"
MAPS_URL="${MAPS_URL:-$bucket/AdditionalMaps_$CARLA_VERSION.tar.gz}"
ADDITIONAL_MAPS="${ADDITIONAL_MAPS:-0}"
VENV_DIR="${VENV_DIR:-$HOME/carla-rllib-venv}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="${REQUIREMENTS:-$here/requirements.txt}"
SKIP_APT="${SKIP_APT:-0}"
CARLA_SHA256="${CARLA_SHA256:-}"
MAPS_SHA256="${MAPS_SHA256:-}"
ENV_FILE="$HOME/.carla-rllib-env.sh"

say() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

# Fail before the long downloads if a setting, the Python or the requirements are unusable.
for name in CARLA_SHA256 MAPS_SHA256; do
    [[ -z "${!name}" || "${!name}" =~ ^[0-9a-fA-F]{64}$ ]] \
        || die "$name=${!name} is not a SHA-256 (64 hexadecimal digits)"
done
[[ -f "$REQUIREMENTS" ]] || die "no requirements file at $REQUIREMENTS (set REQUIREMENTS=...)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); the carla $CARLA_VERSION wheels need Python 3.10-3.12 (set PYTHON=...)"

# --- system packages --------------------------------------------------------------------------
if [[ "$SKIP_APT" != 1 ]]; then
    sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    # A fresh instance runs unattended-upgrades at boot: wait for the dpkg lock instead of failing.
    apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q)
    say "installing system packages"
    "${apt[@]}" update
    "${apt[@]}" install --no-install-recommends \
        ca-certificates wget rsync python3-venv libomp5 libvulkan1 xdg-user-dirs
fi

# --- CARLA server -----------------------------------------------------------------------------
download() {  # url, destination: resumable, and only a complete file gets the final name
    [[ -f "$2" ]] && return 0
    say "downloading $1"
    wget -q --show-progress --progress=dot:giga -c -O "$2.part" "$1" || die "download of $1 failed"
    mv "$2.part" "$2"
}

verify() {  # file, url, name of the variable holding the expected SHA-256
    local actual expected="${!3}"
    say "checking the SHA-256 of $2"
    actual="$(sha256sum "$1" | cut -d ' ' -f 1)"
    if [[ -z "$expected" ]]; then
        warn "$3 is not set, so $2 was not verified; its SHA-256 is $actual (set $3=$actual to pin it)"
    elif [[ "$actual" != "${expected,,}" ]]; then
        rm -f "$1"
        die "SHA-256 of $2 is $actual, expected $expected ($3): not the archive you pinned, or a corrupt download; deleted it"
    fi
}

if [[ -f "$CARLA_DIR/.carla-rllib-installed" ]]; then
    say "CARLA $CARLA_VERSION already in $CARLA_DIR"
else
    archive="$CARLA_DIR.tar.gz"
    download "$CARLA_URL" "$archive"
    verify "$archive" "$CARLA_URL" CARLA_SHA256
    say "extracting into $CARLA_DIR"
    rm -rf "$CARLA_DIR.partial"
    mkdir -p "$CARLA_DIR.partial"
    tar -xzf "$archive" -C "$CARLA_DIR.partial"  # the tarball has no top-level folder
    [[ -f "$CARLA_DIR.partial/CarlaUE4.sh" ]] || die "$CARLA_URL holds no CarlaUE4.sh"
    rm -rf "$CARLA_DIR"
    mv "$CARLA_DIR.partial" "$CARLA_DIR"
    touch "$CARLA_DIR/.carla-rllib-installed"
    rm -f "$archive"
fi

if [[ "$ADDITIONAL_MAPS" == 1 ]]; then
    if [[ -f "$CARLA_DIR/.carla-rllib-maps-installed" ]]; then
        say "additional maps already imported"
    else
        mkdir -p "$CARLA_DIR/Import"
        download "$MAPS_URL" "$CARLA_DIR/Import/AdditionalMaps_$CARLA_VERSION.tar.gz"
        verify "$CARLA_DIR/Import/AdditionalMaps_$CARLA_VERSION.tar.gz" "$MAPS_URL" MAPS_SHA256
        say "importing the additional maps"
        (cd "$CARLA_DIR" && ./ImportAssets.sh) || die "ImportAssets.sh failed"
        rm -f "$CARLA_DIR/Import/AdditionalMaps_$CARLA_VERSION.tar.gz"
        touch "$CARLA_DIR/.carla-rllib-maps-installed"
    fi
fi

# --- Python stack -----------------------------------------------------------------------------
if [[ ! -x "$VENV_DIR/bin/python" ]]; then
    say "creating the virtual environment $VENV_DIR"
    "$PYTHON" -m venv "$VENV_DIR"
fi
if grep -qvE '^[[:space:]]*(#|$)' "$REQUIREMENTS"; then
    say "installing the pinned requirements from $REQUIREMENTS"
    "$VENV_DIR/bin/python" -m pip install -q --upgrade pip
    "$VENV_DIR/bin/python" -m pip install -q -r "$REQUIREMENTS"
else
    say "$REQUIREMENTS lists no packages"
fi

# --- environment for every shell ------------------------------------------------------------
cat >"$ENV_FILE" <<EOF
# Written by carla-rllib's aws/install/install.sh; re-running it rewrites this file.
export CARLA_ROOT="$CARLA_DIR"
case ":\$PATH:" in *":$VENV_DIR/bin:"*) ;; *) export PATH="$VENV_DIR/bin:\$PATH" ;; esac
EOF
hook="[ -f \"$ENV_FILE\" ] && . \"$ENV_FILE\"  # carla-rllib"
touch "$HOME/.bashrc"
if ! grep -qF "$hook" "$HOME/.bashrc"; then
    # At the top: Ubuntu's ~/.bashrc returns early for non-interactive shells.
    { printf '%s\n' "$hook"; cat "$HOME/.bashrc"; } >"$HOME/.bashrc.carla-rllib"
    mv "$HOME/.bashrc.carla-rllib" "$HOME/.bashrc"
fi

say "done: CARLA_ROOT=$CARLA_DIR, Python stack in $VENV_DIR"
