#!/usr/bin/env bash
# Install the Debian packages the QEMU differential tests and the report browser test need, if missing.
# Never fails the build by itself: the tests decide (skip with a reason, or fail under CI=true).
need=()
command -v qemu-system-aarch64 >/dev/null 2>&1 || need+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
# headless browser for the report.html test (tests/report)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "ensure-system-deps: missing ${need[*]} and not root (no passwordless sudo); QEMU tests will be skipped" >&2
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-system-deps: missing ${need[*]} and apt-get is not available; QEMU tests will be skipped" >&2
    exit 0
fi
echo "ensure-system-deps: installing ${need[*]} through apt" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || echo "ensure-system-deps: apt-get install ${need[*]} failed; QEMU tests will be skipped" >&2
exit 0
