#!/usr/bin/env bash
# Makes the load-balancer test runnable: Debian's HAProxy (installed with apt-get when
# missing; 2.6 on bookworm). Prints the binary's path on stdout (`.ci/run` exports it as
# SLUGBASE_HAPROXY); its log goes to stderr. Only the package is installed: the test starts
# its own HAProxy process on 127.0.0.1, so no system service is started or enabled here.
set -euo pipefail

log() { echo "haproxy.sh: $*" >&2; }

binary=/usr/sbin/haproxy
if [ ! -x "$binary" ]; then
  if [ "$(id -u)" != 0 ]; then log "HAProxy is not installed and installing it needs root"; exit 1; fi
  log "HAProxy not found; installing haproxy with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # policy-rc.d 101: the package's maintainer scripts must not start the system service.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends haproxy >&2
fi
"$binary" -v >&2
echo "$binary"
