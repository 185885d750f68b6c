# syntax=docker/dockerfile:1
#
# tradebot container image.
#
#   docker build -t tradebot .
#   docker run -d --name tradebot -p 8080:8080 --env-file .env -v tradebot-data:/app/data tradebot
#
# Two stages: the builder installs the project and its dependencies into a virtualenv at
# /opt/venv; the runtime stage copies only that venv (no compilers, no pip cache, no sources).
#
# TA-Lib: the `ta-lib` PyPI package ships manylinux wheels for CPython 3.11 on linux/amd64 and
# linux/arm64 that bundle the C library, so no apt packages are needed. On a platform without a
# wheel (e.g. linux/arm/v7 or a musl/Alpine base) pip falls back to the sdist, which needs the
# TA-Lib C library and a compiler: install them in the builder stage
# (build-essential + TA-Lib from https://ta-lib.org) and copy libta-lib into the runtime stage.

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so editing the code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --upgrade pip \
    && pip install -r /tmp/requirements.txt

# Then the project itself (a regular, non-editable install: migrations ship as package data).
COPY . .
RUN pip install --no-deps . \
    && python -c "import talib" \
    && tradebot --help > /dev/null

# --------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:${PATH}" \
    MPLCONFIGDIR=/tmp/matplotlib \
    TRADEBOT_HOST=0.0.0.0 \
    TRADEBOT_PORT=8080

RUN groupadd --system --gid 10001 tradebot \
    && useradd --system --uid 10001 --gid tradebot --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin tradebot

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The default TRADEBOT_DATABASE_URL (sqlite://data/tradebot.sqlite3) is relative to the working
# directory, so the database lives in /app/data. Create it owned by `tradebot` *before* declaring
# the volume so a fresh named volume inherits that ownership.
RUN mkdir -p /app/data && chown tradebot:tradebot /app/data && chmod 0750 /app/data
VOLUME ["/app/data"]

USER tradebot

EXPOSE 8080

# /health answers 200 for "ok" and "degraded", 503 for "down"; urlopen raises on anything but 2xx
# (and on connection errors), which makes python exit 1. Proxies from the environment are ignored.
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; r = u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/health' % os.environ.get('TRADEBOT_PORT', '8080'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# Apply migrations (idempotent), then `exec` the server so it replaces the shell and receives
# SIGTERM from `docker stop` directly. SERVE_ARGS is not read by the app, only by this line (e.g.
# "--no-monitor" for a web-only process beside `tradebot monitor`; the compose `scale` replicas
# set their own command and need none: one of them leads, deploy/README.md).
# Any other command can be run instead, e.g. `docker compose run --rm tradebot tradebot migrate`.
CMD ["/bin/sh", "-c", "tradebot migrate && exec tradebot serve ${SERVE_ARGS}"]
