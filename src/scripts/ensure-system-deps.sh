#!/usr/bin/env bash
# Installs the system tools the tests need, from Debian's packages, only when missing, and says what
# and why before it does:
#   nats-server  (package nats-server) — the integration tests start real NATS servers on loopback
#   promtool, prometheus (package prometheus) — `promtool check metrics/rules`; a real Prometheus scrapes the app
#   chromium     (package chromium)    — the snippet and dashboard run in real headless Chromium
# Quiet when all are present. Without root (and without passwordless sudo) it does not try: it fails
# with the exact command to run.
set -uo pipefail

declare -A PKG=([nats-server]=nats-server [promtool]=prometheus [prometheus]=prometheus [chromium]=chromium)
declare -A WHY=([nats-server]='integration tests start real NATS servers' [promtool]='the metrics and rules lint runs promtool' [prometheus]='the ops-kit test runs a real Prometheus against the app' [chromium]='the snippet and dashboard tests run in headless Chromium')
missing=()
for bin in nats-server promtool prometheus chromium; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    [[ " ${missing[*]} " == *" ${PKG[$bin]} "* ]] || missing+=("${PKG[$bin]}")
    echo "ensure-system-deps: $bin is missing (Debian package ${PKG[$bin]}): ${WHY[$bin]}" >&2
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

command_hint="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "ensure-system-deps: not root and no passwordless sudo, so nothing was installed. Run as root:" >&2
    echo "  $command_hint" >&2
    exit 1
  fi
fi
echo "ensure-system-deps: installing ${missing[*]} with apt-get (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || echo "ensure-system-deps: apt-get update failed (trying the install anyway)" >&2
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "ensure-system-deps: could not install ${missing[*]}; run as root:" >&2
  echo "  $command_hint" >&2
  exit 1
fi
echo "ensure-system-deps: installed ${missing[*]}" >&2
