#!/usr/bin/env bash
# Installs aiosmtpd (pinned), the SMTP server the mail tests start on 127.0.0.1, into its own
# virtualenv, once; later runs reuse it. Prints the interpreter's path. Called by .ci/run;
# the tests find the interpreter in SLUGBASE_AIOSMTPD_PYTHON or at the default path below.
#
# Environment: AIOSMTPD_VENV (default /var/tmp/slugbase-aiosmtpd-1.4.6).
set -euo pipefail

VERSION=1.4.6
venv="${AIOSMTPD_VENV:-/var/tmp/slugbase-aiosmtpd-$VERSION}"

if ! "$venv/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$VERSION')" 2>/dev/null; then
    command -v python3 >/dev/null || { echo "aiosmtpd: python3 is not installed" >&2; exit 1; }
    echo "aiosmtpd: installing $VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$VERSION" >&2
fi
echo "$venv/bin/python"
