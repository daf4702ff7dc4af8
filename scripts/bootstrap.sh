#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install the
# pinned stack. With --dev, also the test tools and, where apt is available and
# we are root, Debian's openssh-server (the aws/ tests run a throwaway sshd).
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))'; then
    echo "bootstrap: $python is $("$python" -V 2>&1); the carla 0.9.16 wheels need Python 3.10-3.12 (set PYTHON=...)" >&2
    exit 2
fi

[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if (( dev )); then
    .venv/bin/python -m pip install -q -r requirements-dev.txt
    if ! command -v sshd >/dev/null && [[ ! -x /usr/sbin/sshd ]] && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null) \
            || echo "bootstrap: could not install openssh-server; the SSH tests will be skipped" >&2
    fi
else
    .venv/bin/python -m pip install -q -r requirements.txt
fi
# The library itself, editable: `import rllib_integration` and its commands (carla-rllib-train,
# carla-embedded-server, ...) work from any folder and follow this checkout.
.venv/bin/python -m pip install -q --no-deps -e .
