#!/usr/bin/env bash
# Installs the system tools the tests need, from Debian's packages, only when missing:
#   nats-server (integration tests), promtool (package prometheus: metrics lint), chromium (snippet e2e).
# Idempotent and quiet when all are present; an unreachable apt never fails a run that has everything.
set -uo pipefail

declare -A PKG=([nats-server]=nats-server [promtool]=prometheus [chromium]=chromium)
missing=()
for bin in nats-server promtool chromium; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${PKG[$bin]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "ensure-system-deps: missing ${missing[*]} and not root; install them with apt-get" >&2
    exit 1
  fi
fi
echo "ensure-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || echo "ensure-system-deps: apt-get update failed" >&2
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "ensure-system-deps: could not install ${missing[*]}" >&2
  exit 1
fi
