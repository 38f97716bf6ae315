#!/usr/bin/env bash
# Install tradingd as a systemd service on a Debian 12 host (run as root).
#
#   deploy/install.sh [--config FILE] [--instance NAME] [--grafana] [--dry-run]
#
# From a checkout of this repository it:
#   1. creates the system user/group `tradingd` (no login, no home of its own);
#   2. builds a venv in /opt/tradingd/venv and installs tradingd into it
#      (root-owned: the service can read its code but never modify it);
#   3. creates /etc/tradingd (root:tradingd 0750) and the root-only
#      /etc/tradingd/credentials (0700), installs --config as tradingd.toml
#      (or NAME.toml with --instance NAME) unless one is already there;
#   4. installs systemd/tradingd.service and tradingd@.service into
#      /etc/systemd/system and runs `systemctl daemon-reload`;
#   5. with --grafana, installs the dashboard and provisioning files.
# It never enables or starts the service and never overwrites an existing
# config or credential: it prints what is left to do. Safe to re-run (that is
# also how to upgrade: it reinstalls the package into the venv).
#
# torch is pinned to the exact version the project tests with. pip uses this
# host's pip configuration (pip.conf / PIP_INDEX_URL / PIP_EXTRA_INDEX_URL);
# point it at a CPU-only torch index if the default would pull a CUDA build.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/tradingd
VENV="$PREFIX/venv"
ETC=/etc/tradingd
UNIT_DIR=/etc/systemd/system
GRAFANA_DASHBOARDS=/var/lib/grafana/dashboards/tradingd
GRAFANA_PROVISIONING=/etc/grafana/provisioning
TORCH_PIN="torch==2.13.0"  # keep in step with the Makefile and pyproject.toml
PYTHON="${PYTHON:-python3}"

config=""
instance=""
grafana=0
dry_run=0

usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --config) config="${2:?--config needs a file}"; shift 2 ;;
        --instance) instance="${2:?--instance needs a name}"; shift 2 ;;
        --grafana) grafana=1; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done

if [ -n "$config" ] && [ ! -r "$config" ]; then
    echo "install.sh: cannot read config $config" >&2
    exit 2
fi

# Instance names become file names and unit names: keep them boring.
if [ -n "$instance" ] && ! [[ "$instance" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]]; then
    echo "install.sh: instance name must match [A-Za-z0-9][A-Za-z0-9_.-]*" >&2
    exit 2
fi

# Every change goes through `run`, so --dry-run prints the exact plan.
run() {
    if [ "$dry_run" -eq 1 ]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

note() { printf 'install.sh: %s\n' "$*" >&2; }

if [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (or use --dry-run to see the plan)" >&2
    exit 1
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "install.sh: $PYTHON is not Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi

# 1. user and group
if ! getent passwd tradingd >/dev/null; then
    run useradd --system --user-group --home-dir /var/lib/tradingd --no-create-home \
        --shell /usr/sbin/nologin --comment "tradingd trading daemon" tradingd
else
    note "user tradingd exists"
fi

# 2. venv and package
run install -d -m 0755 -o root -g root "$PREFIX" "$PREFIX/doc"
if [ ! -x "$VENV/bin/python" ]; then
    run "$PYTHON" -m venv "$VENV"
fi
run "$VENV/bin/python" -m pip install --quiet --upgrade pip
run "$VENV/bin/python" -m pip install --quiet "$TORCH_PIN"
run "$VENV/bin/python" -m pip install --quiet "${SRC}[accel]"
# The order path compiled with mypyc (daemon/accel/); it needs a C compiler and the Python
# headers. Without them, or if it fails, the daemon runs interpreted: same behaviour, a slower
# order path (the startup log line says which).
run "$VENV/bin/python" -m daemon.accel.build || note "order path not compiled: runs interpreted"
# The unit sets ProtectSystem=strict (venv read-only) and
# PYTHONDONTWRITEBYTECODE: compile now so imports never want to write.
run "$VENV/bin/python" -m compileall -q "$VENV"
run install -m 0644 "$SRC/systemd/README.md" "$PREFIX/doc/systemd-README.md"
run install -m 0644 "$SRC/deploy/prometheus/RUNBOOK.md" "$PREFIX/doc/RUNBOOK.md"

# 3. configuration and credential directories
run install -d -m 0750 -o root -g tradingd "$ETC"
run install -d -m 0700 -o root -g root "$ETC/credentials"
if [ -n "$instance" ]; then
    run install -d -m 0700 -o root -g root "$ETC/credentials/$instance"
    target_config="$ETC/$instance.toml"
    unit="tradingd@$instance.service"
    cred_dir="$ETC/credentials/$instance"
else
    target_config="$ETC/tradingd.toml"
    unit="tradingd.service"
    cred_dir="$ETC/credentials"
fi
if [ -e "$target_config" ]; then
    note "$target_config exists, left as it is"
elif [ -n "$config" ]; then
    # root-owned, group-readable by the service: it must not rewrite its limits.
    run install -m 0640 -o root -g tradingd "$config" "$target_config"
    run runuser -u tradingd -- "$VENV/bin/tradingd" check-config --config "$target_config"
else
    note "no config installed: create $target_config (root:tradingd 0640) or pass --config"
fi

# 4. units
run install -m 0644 "$SRC/systemd/tradingd.service" "$SRC/systemd/tradingd@.service" "$UNIT_DIR/"
if [ -d /run/systemd/system ] || [ "$dry_run" -eq 1 ]; then
    run systemctl daemon-reload
else
    note "systemd is not running here; run 'systemctl daemon-reload' on the target host"
fi

# 5. Grafana (optional)
if [ "$grafana" -eq 1 ]; then
    run install -d -m 0755 "$GRAFANA_DASHBOARDS" \
        "$GRAFANA_PROVISIONING/dashboards" "$GRAFANA_PROVISIONING/datasources"
    run install -m 0644 "$SRC/deploy/grafana/tradingd-dashboard.json" "$GRAFANA_DASHBOARDS/"
    run install -m 0644 "$SRC/deploy/grafana/provisioning/dashboards.yml" \
        "$GRAFANA_PROVISIONING/dashboards/tradingd.yml"
    run install -m 0644 "$SRC/deploy/grafana/provisioning/datasources.yml" \
        "$GRAFANA_PROVISIONING/datasources/tradingd.yml"
fi

missing=()
for cred in api_key api_secret control_token; do
    [ -s "$cred_dir/$cred" ] || missing+=("$cred")
done

if [ "$dry_run" -eq 1 ]; then
    printf '\n(dry run: nothing was changed)\n'
else
    printf '\ntradingd installed.\n'
fi
echo "Left to do:"
if [ "${#missing[@]}" -gt 0 ]; then
    cat <<EOF
  * credentials missing in $cred_dir: ${missing[*]}
    root-only files (0600) that systemd copies to the service at start; see
    "Credentials" in /opt/tradingd/doc/systemd-README.md (api_password is optional)
EOF
fi
cat <<EOF
  * systemctl enable --now $unit
  * journalctl -u $unit -f        # JSON log lines
  * Prometheus: deploy/prometheus/ (see systemd/README.md, "Monitoring")
EOF
