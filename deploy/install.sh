#!/usr/bin/env bash
# Install or update tradebot as a systemd service. Idempotent: run it again after `git pull`.
#
#   git clone <repo> tradebot && cd tradebot
#   sudo ./deploy/install.sh
#
# What it does:
#   1. creates the system user `tradebot` (no login shell, home /opt/tradebot)
#   2. copies the checkout this script belongs to into /opt/tradebot (root-owned; .git, .venv,
#      data and .env are not copied; data/ is never touched except to create it)
#   3. creates /opt/tradebot/.venv with Python >= 3.11 and pip-installs the project into it
#   4. writes /etc/tradebot/tradebot.env from a template, only if it does not exist (0600)
#   5. installs deploy/tradebot.service, enables it, and restarts it if it was already running
#
# Overrides (environment): TRADEBOT_SRC (source checkout, default: this script's repository),
# PYTHON (interpreter used to create the venv, default: first python3.1x/python3 that is >= 3.11).
set -euo pipefail

readonly APP_USER=tradebot
readonly INSTALL_DIR=/opt/tradebot
readonly DATA_DIR=${INSTALL_DIR}/data
readonly VENV=${INSTALL_DIR}/.venv
readonly ETC_DIR=/etc/tradebot
readonly ENV_FILE=${ETC_DIR}/tradebot.env
readonly UNIT_NAME=tradebot.service
readonly UNIT_PATH=/etc/systemd/system/${UNIT_NAME}

log() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[[ ${EUID} -eq 0 ]] || die "run as root (sudo $0)"

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
SRC=$(cd -- "${TRADEBOT_SRC:-${script_dir}/..}" && pwd -P)
[[ -f ${SRC}/pyproject.toml ]] || die "${SRC} does not look like the tradebot checkout (no pyproject.toml)"
[[ -f ${SRC}/deploy/${UNIT_NAME} ]] || die "missing ${SRC}/deploy/${UNIT_NAME}"

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [[ -n ${candidate} ]] || continue
        command -v "${candidate}" > /dev/null 2>&1 || continue
        if "${candidate}" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2> /dev/null; then
            command -v "${candidate}"
            return 0
        fi
    done
    return 1
}

# --- 1. user ----------------------------------------------------------------------------------
if id -u "${APP_USER}" > /dev/null 2>&1; then
    log "user ${APP_USER} exists"
else
    log "creating system user ${APP_USER}"
    nologin=$(command -v nologin || echo /usr/sbin/nologin)
    useradd --system --user-group --home-dir "${INSTALL_DIR}" --no-create-home \
        --shell "${nologin}" "${APP_USER}"
fi

# --- 2. code ----------------------------------------------------------------------------------
install -d -o root -g root -m 0755 "${INSTALL_DIR}"
if [[ ${SRC} == "${INSTALL_DIR}" ]]; then
    log "running from ${INSTALL_DIR}: nothing to copy"
else
    log "copying ${SRC} -> ${INSTALL_DIR}"
    # Top-level only (a package may legitimately contain a "data" or "build" directory) ...
    top_excludes=(.git .venv venv data .env '.env.*' build dist)
    # ... and anywhere in the tree.
    any_excludes=(__pycache__ '*.pyc' .pytest_cache .ruff_cache .mypy_cache '*.egg-info')
    if command -v rsync > /dev/null 2>&1; then
        rsync_args=()
        for pattern in "${top_excludes[@]}"; do rsync_args+=("--exclude=/${pattern}"); done
        for pattern in "${any_excludes[@]}"; do rsync_args+=("--exclude=${pattern}"); done
        # --delete removes files deleted upstream; excluded paths (.venv, data, ...) are kept.
        rsync -a --delete --chown=root:root "${rsync_args[@]}" "${SRC}/" "${INSTALL_DIR}/"
    else
        tar_args=(--anchored)
        for pattern in "${top_excludes[@]}"; do tar_args+=("--exclude=./${pattern}"); done
        tar_args+=(--no-anchored)
        for pattern in "${any_excludes[@]}"; do tar_args+=("--exclude=${pattern}"); done
        # Without rsync, files removed upstream stay behind (harmless: the venv install is used).
        tar -C "${SRC}" "${tar_args[@]}" --owner=root --group=root -cf - . \
            | tar -C "${INSTALL_DIR}" --no-same-owner -xf -
    fi
fi
chmod 0755 "${INSTALL_DIR}"

install -d -o "${APP_USER}" -g "${APP_USER}" -m 0750 "${DATA_DIR}"

# --- 3. venv + project ------------------------------------------------------------------------
python_bin=$(find_python) || die "Python >= 3.11 not found (set PYTHON=/path/to/python3.11)"
if [[ -x ${VENV}/bin/python ]] && "${VENV}/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    log "venv ${VENV} exists"
else
    log "creating venv ${VENV} with ${python_bin}"
    rm -rf "${VENV}"
    "${python_bin}" -m venv "${VENV}" \
        || die "venv creation failed (Debian/Ubuntu: apt-get install python3-venv)"
fi
log "installing tradebot into ${VENV}"
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# A local directory is rebuilt and reinstalled on every run, so updates are picked up.
# ta-lib ships manylinux wheels (x86_64, aarch64) with the C library bundled; elsewhere pip
# builds it from source and needs the TA-Lib C library installed first.
(cd "${INSTALL_DIR}" && "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade .)
# pip builds in-tree; drop the leftovers.
rm -rf "${INSTALL_DIR}/build" "${INSTALL_DIR}"/*.egg-info

# --- 4. configuration -------------------------------------------------------------------------
install -d -o root -g root -m 0755 "${ETC_DIR}"
if [[ -e ${ENV_FILE} ]]; then
    log "${ENV_FILE} exists, leaving it alone"
else
    log "writing ${ENV_FILE} (edit it, then: systemctl restart tradebot)"
    api_token=$("${VENV}/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
    webhook_secret=$("${VENV}/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
    (
        umask 077
        cat > "${ENV_FILE}.tmp" << EOF
# tradebot configuration, read by systemd (EnvironmentFile= in ${UNIT_NAME}).
# Plain KEY=value lines; no quotes needed. After editing: systemctl restart tradebot

# Listen on loopback only: the reverse proxy (deploy/nginx.conf or deploy/Caddyfile) faces the
# internet on 443 and forwards to 127.0.0.1:8080.
TRADEBOT_HOST=127.0.0.1
TRADEBOT_PORT=8080
# The https:// address the proxy serves (used for the Telegram webhook and TradingView URLs).
#TRADEBOT_PUBLIC_URL=https://bot.example.com

# Default: SQLite in ${DATA_DIR} (relative to WorkingDirectory=${INSTALL_DIR}).
#TRADEBOT_DATABASE_URL=sqlite://data/tradebot.sqlite3
#TRADEBOT_DATABASE_URL=postgres://tradebot:password@127.0.0.1:5432/tradebot
#TRADEBOT_REDIS_URL=redis://127.0.0.1:6379/0

# Telegram: token from @BotFather; admins are numeric Telegram user ids, comma-separated.
#TRADEBOT_TELEGRAM_TOKEN=
#TRADEBOT_TELEGRAM_ADMINS=
TRADEBOT_TELEGRAM_MODE=polling
TRADEBOT_TELEGRAM_WEBHOOK_SECRET=${webhook_secret}

# Token for the HTTP API / TradingView webhooks (generated at install time).
TRADEBOT_API_TOKEN=${api_token}
# Only accept webhooks from these sources ("tradingview", IPs or CIDRs, comma-separated).
#TRADEBOT_WEBHOOK_IP_ALLOWLIST=tradingview

# Broker: paper (simulated) or ccxt (real exchange).
TRADEBOT_BROKER=paper
#TRADEBOT_CCXT_EXCHANGE=binance
#TRADEBOT_CCXT_API_KEY=
#TRADEBOT_CCXT_SECRET=
#TRADEBOT_CCXT_SANDBOX=true

TRADEBOT_LOG_FORMAT=text
EOF
    )
    chown root:root "${ENV_FILE}.tmp"
    chmod 0600 "${ENV_FILE}.tmp"
    mv -f "${ENV_FILE}.tmp" "${ENV_FILE}"
fi

# --- 5. systemd unit --------------------------------------------------------------------------
log "installing ${UNIT_PATH}"
install -o root -g root -m 0644 "${SRC}/deploy/${UNIT_NAME}" "${UNIT_PATH}"
if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl enable "${UNIT_NAME}"
    if systemctl is-active --quiet "${UNIT_NAME}"; then
        log "restarting ${UNIT_NAME}"
        systemctl restart "${UNIT_NAME}"
    else
        log "enabled; start it with: systemctl start tradebot   (logs: journalctl -u tradebot -f)"
    fi
else
    log "systemd is not running here: unit installed but not enabled (systemctl enable --now tradebot)"
fi

log "done. config: ${ENV_FILE}  data: ${DATA_DIR}  health: curl -s http://127.0.0.1:8080/health"
