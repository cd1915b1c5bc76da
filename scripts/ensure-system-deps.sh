#!/usr/bin/env bash
# Install the Debian packages the QEMU tests and the report browser test need, if missing,
# and fetch the arm64 kernel that `irqfwd measure` boots under QEMU.
# Never fails the build by itself: the tests decide (skip with a reason, or fail under CI=true).
need=()
command -v qemu-system-aarch64 >/dev/null 2>&1 || need+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
# headless browser for the report.html test (tests/report)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        SUDO="none"
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#need[@]} -gt 0 ]; then
    if [ "$SUDO" = none ]; then
        echo "ensure-system-deps: missing ${need[*]} and not root (no passwordless sudo); QEMU tests will be skipped" >&2
    elif ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure-system-deps: missing ${need[*]} and apt-get is not available; QEMU tests will be skipped" >&2
    else
        echo "ensure-system-deps: installing ${need[*]} through apt" >&2
        $SUDO apt-get update -qq >/dev/null 2>&1 || true
        $SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
            || echo "ensure-system-deps: apt-get install ${need[*]} failed; QEMU tests will be skipped" >&2
    fi
fi

# --- the arm64 host kernel of `irqfwd measure` (src/irqfwd/measure/kernel.py) --------------
# Debian's newest linux-image-6.*-arm64-unsigned (KVM built in), downloaded with apt-get
# download (no installation) and its vmlinuz + config extracted into
#   ${XDG_CACHE_HOME:-~/.cache}/irqfwd/kernel/<release>/{vmlinuz,config,package}
# with kernel/current naming the release.  Idempotent: nothing is fetched when the newest
# package is already there (or when apt knows no such package and a kernel is cached).
fetch_kernel() {
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/irqfwd/kernel"
    command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || {
        echo "ensure-system-deps: no apt-get/dpkg-deb: cannot fetch the arm64 kernel for irqfwd measure" >&2
        return 0; }
    if [ "$SUDO" != none ] && ! dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64 && $SUDO apt-get update -qq >/dev/null 2>&1
    fi
    local pkg
    pkg=$(apt-cache search --names-only '^linux-image-6\.[0-9.]+.*-arm64-unsigned$' 2>/dev/null \
          | awk '{print $1}' | grep -Ev -- '-(cloud|rt)-arm64-unsigned$' | sort -V | tail -n 1)
    if [ -z "$pkg" ] && [ "$SUDO" != none ]; then
        $SUDO apt-get update -qq >/dev/null 2>&1
        pkg=$(apt-cache search --names-only '^linux-image-6\.[0-9.]+.*-arm64-unsigned$' 2>/dev/null \
              | awk '{print $1}' | grep -Ev -- '-(cloud|rt)-arm64-unsigned$' | sort -V | tail -n 1)
    fi
    if [ -z "$pkg" ]; then
        [ -f "$cache/current" ] && return 0
        echo "ensure-system-deps: apt knows no linux-image-6.*-arm64-unsigned package (dpkg --add-architecture arm64; apt-get update); irqfwd measure cannot boot" >&2
        return 0
    fi
    local release=${pkg#linux-image-}; release=${release%-unsigned}
    if [ -f "$cache/$release/vmlinuz" ] && [ -f "$cache/$release/package" ]; then
        [ "$(cat "$cache/current" 2>/dev/null)" = "$release" ] || echo "$release" > "$cache/current"
        return 0
    fi
    echo "ensure-system-deps: fetching $pkg for irqfwd measure" >&2
    local tmp; tmp=$(mktemp -d) || return 0
    if ! (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1); then
        echo "ensure-system-deps: apt-get download $pkg failed; irqfwd measure cannot boot" >&2
        rm -rf "$tmp"; return 0
    fi
    local deb; deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
    mkdir -p "$tmp/x" "$cache/$release.tmp"
    if dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" ./boot 2>/dev/null \
        && cp "$tmp/x/boot/vmlinuz-$release" "$cache/$release.tmp/vmlinuz" \
        && cp "$tmp/x/boot/config-$release" "$cache/$release.tmp/config"; then
        echo "$pkg $(dpkg-deb -f "$deb" Version)" > "$cache/$release.tmp/package"
        rm -rf "$cache/$release" && mv "$cache/$release.tmp" "$cache/$release" \
            && echo "$release" > "$cache/current"
        echo "ensure-system-deps: arm64 kernel $release cached in $cache" >&2
    else
        echo "ensure-system-deps: extracting vmlinuz from $pkg failed; irqfwd measure cannot boot" >&2
        rm -rf "$cache/$release.tmp"
    fi
    rm -rf "$tmp"
    return 0
}
fetch_kernel
exit 0
