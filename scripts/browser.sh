#!/usr/bin/env bash
# Makes the browser tests runnable: Debian's Chromium and ChromeDriver (installed with apt-get
# when missing; /usr/bin/chromium, /usr/bin/chromedriver) and the npm packages that drive it
# (tests/browser: playwright-core, which never downloads a browser of its own, and axe-core).
# Prints nothing on stdout; its log goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "browser.sh: $*" >&2; }

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" != 0 ]; then log "Chromium is not installed and installing it needs root"; exit 1; fi
  log "Chromium not found; installing chromium and chromium-driver with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
fi
/usr/bin/chromium --version >&2

command -v node >/dev/null || { log "node is not installed (the browser tests need it)"; exit 1; }
(cd tests/browser && npm ci --no-audit --no-fund --prefer-offline >&2)
log "ready"
