#!/usr/bin/env bash
# System (Debian) packages airwarn needs beyond PyPI. Idempotent: installs only what is missing.
# Run by `make install`. Engineers: append your own block; do not rewrite others' lines.
set -euo pipefail

_apt_updated=0
_apt_install() {
    # _apt_install <package>...: non-interactive install, `apt-get update` once per run first.
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if [ "$_apt_updated" -eq 0 ]; then
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
        _apt_updated=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# products: headless Chromium for the forecaster-report page tests (pytest -m browser).
if [ ! -x /usr/bin/chromium ]; then
    _apt_install chromium
fi
# products: pdftoppm (poppler-utils) to rasterise bulletin PDFs in tests and docs.
if ! command -v pdftoppm >/dev/null 2>&1; then
    _apt_install poppler-utils
fi
