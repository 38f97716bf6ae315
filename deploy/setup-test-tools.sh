#!/usr/bin/env bash
# Installs the external tools the ops tests need, only if missing:
# promtool + prometheus (Debian package prometheus), amtool (prometheus-alertmanager,
# for deploy/alertmanager), systemd-analyze
# (systemd), shellcheck (for deploy/*.sh) and chromium (the backtest report
# is opened in a real headless browser).
#
# Why a script and not a doc line: CI runs on a fresh machine with no stdin,
# so anything a test needs must be installed by the project itself. It is
# idempotent and quiet: on a machine that already has the tools it does no
# network I/O at all. If it cannot install (not root, no apt, apt failing),
# it says so and exits 0 so the *tests* fail with a clear message naming the
# missing tool (they fail, never skip); failing here would stop the whole
# suite and hide which tests needed what.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# de-duplicate
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u | sed '/^$/d')
[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-test-tools: missing ${need[*]}; cannot install (need root + apt-get)." >&2
    echo "setup-test-tools: install them by hand; the ops tests will fail until then." >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup-test-tools: installing ${need[*]} from apt (first run only)" >&2

# The Debian prometheus package's postinst tries to start the service. In a
# container without systemd that is a no-op; on a real host we must not leave
# a prometheus listening on :9090 behind a test run, so a policy-rc.d that
# denies service starts is put in place for the duration of the install (only
# if none exists; an operator's own policy is left alone).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=1
fi
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() { if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

if ! apt-get update -qq >/dev/null \
    || ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
    echo "setup-test-tools: apt-get failed; the tests needing ${need[*]} will fail" >&2
fi

# On hosts where systemd *is* PID 1 the postinst enables the unit through
# deb-systemd-helper regardless of policy-rc.d; make sure nothing this script
# installed is running or will start at boot. Only when it installed the
# package just now: an operator's existing Prometheus is not ours to touch.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    if [[ " ${need[*]} " == *" prometheus "* ]]; then
        systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
    if [[ " ${need[*]} " == *" prometheus-alertmanager "* ]]; then
        systemctl disable --now prometheus-alertmanager.service >/dev/null 2>&1 || true
    fi
fi

for tool in promtool prometheus amtool systemd-analyze shellcheck chromium; do
    command -v "$tool" >/dev/null 2>&1 || echo "setup-test-tools: $tool still missing after install" >&2
done
exit 0
