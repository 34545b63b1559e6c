# syntax=docker/dockerfile:1
# snip container image. Two targets, one Dockerfile:
#   runtime (default, the last stage): the API, the flusher, migrations and purge
#       docker build -t ghcr.io/snip-project/snip:0.1.0 .
#   ops: runtime + postgresql-client 15 + scripts/, for the backup CronJob
#       docker build --target ops -t ghcr.io/snip-project/snip-ops:0.1.0 .
# The API image carries no pg_dump: the web process never needs it, so it stays
# smaller and has less to patch. Migrations are a separate command
# (`snip db upgrade`, a Kubernetes Job), never run at container start.

# Pinned to a patch release: a rebuild must not silently change Python.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- builder: turn the project and its locked dependencies into wheels -------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
# The locks pin every package with its hashes (`make lock`): pip fetches exactly
# those files or fails, so a rebuild never resolves anything afresh.
COPY requirements/runtime.lock requirements/build.lock ./requirements/
RUN pip wheel --require-hashes --no-deps --wheel-dir /wheels -r requirements/runtime.lock \
 && pip install --require-hashes --no-deps -r requirements/build.lock
# README.md is the package's long description (pyproject `readme`).
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels/snip .

# --- base: what every final image shares (no compiler, no build files) --------
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SNIP_ENV=production \
    SNIP_BIND_HOST=0.0.0.0 \
    PORT=8000
# uid/gid 10001: above the host's usual ranges, as docs/interfaces.md fixes it.
RUN groupadd --system --gid 10001 snip \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin snip
# Install from the builder's wheels only (--no-index): the final stage never
# reaches PyPI and never compiles anything. Hashes were checked in the builder, where
# every file was downloaded; a package published only as source (geoip2fast) became a
# wheel there whose hash no lock can know, so its wheels are installed as they are.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --no-deps /wheels/*.whl \
 && pip install --no-index --no-deps /wheels/snip/snip-*.whl
# The process writes only to /tmp (gunicorn heartbeats, Prometheus multiprocess
# files); Kubernetes mounts an emptyDir there and keeps the root read-only.
WORKDIR /tmp
EXPOSE 8000

# --- ops: backup tooling -------------------------------------------------------
FROM base AS ops
# postgresql-client-15 matches the PostgreSQL 15 server of k8s/database/
# (pg_dump refuses servers newer than itself); pgbackrest takes base backups and
# restores (scripts/backup/base-backup.sh, pitr-restore.sh); postgresql-15 (the
# server) runs the restored cluster of a restore drill (restore-drill.sh). The
# scripts push metrics with python3 when curl is absent, so curl is not added.
# Exact Debian versions are not pinned (DL3008): bookworm security updates
# replace them, and a pinned version would stop building the day it is replaced.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 postgresql-15 pgbackrest \
 && rm -rf /var/lib/apt/lists/*
COPY --chown=root:root --chmod=0755 scripts /opt/snip/scripts
USER 10001:10001
CMD ["/opt/snip/scripts/backup/db-backup.sh", "--help"]

# --- postgres: the database of k8s/database/ with pgBackRest inside -------------
# archive_command (pgbackrest archive-push) runs in the PostgreSQL container, and
# the same image runs the pgBackRest TLS server beside it for base backups.
#     docker build --target postgres -t ghcr.io/snip-project/snip-postgres:0.1.0 .
FROM postgres:15.14-bookworm AS postgres
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends pgbackrest \
 && rm -rf /var/lib/apt/lists/*

# --- runtime: the default image --------------------------------------------------
FROM base AS runtime
USER 10001:10001
CMD ["gunicorn", "-c", "python:snip.gunicorn_conf", "snip:create_app()"]
