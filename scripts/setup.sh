#!/usr/bin/env bash
# Installs everything switchboard needs on a fresh Debian machine (run as root):
# Debian packages for speech and audio, then the project with its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(espeak-ng sox chromium postgresql faketime)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
# make the `switchboard` console script visible where pyenv shims are used
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
command -v switchboard >/dev/null 2>&1 || echo "note: 'switchboard' is not on PATH here; use: python3 -m switchboard …" >&2
