# The bot as a container image: one replica per container (docs/deployment.md). The same
# image runs the WeCom simulator for trials (`python -m bot.simulator`).
#
# Built and run in CI by .ci/container.sh (podman, two replicas on PostgreSQL). Debian
# based, Python from Debian's packages: it builds unchanged from Docker Hub's
# debian:bookworm-slim or from a base made locally with debootstrap under that name.
#
#   podman build --format docker -t wecom-store-bot .      # or: docker build -t ... .
#   behind a TLS-inspecting proxy, give pip the proxy's CA bundle:
#   podman build --format docker -v /etc/ssl/certs/ca-certificates.crt:/host-ca.crt:ro \
#       --build-arg PIP_CERT=/host-ca.crt -t wecom-store-bot .
FROM debian:bookworm-slim

# A CA bundle for pip, mounted only while building; empty (the default) changes nothing.
ARG PIP_CERT=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# Python 3.11, tzdata (schedules run in Asia/Shanghai) and the CJK font the printed QR
# cards are set in (bot/cards/, docs/cards.md) from Debian; no compiler: every dependency
# has a wheel.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates tzdata fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && useradd --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin bot

WORKDIR /app
# The project from its own files; operator files (sop/, templates/) come after, so editing
# them does not reinstall the dependencies.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN if [ -n "$PIP_CERT" ]; then export PIP_CERT; else unset PIP_CERT; fi \
    && pip install ".[pg]" \
    && rm -rf build ./*.egg-info

# Operator files: in production, mount your own over these (or build an image per chain).
COPY sop ./sop
COPY templates ./templates
COPY deploy/config.toml ./config.toml
# var/ is where a single-container SQLite trial keeps its database.
RUN mkdir -p var && chown bot:bot var

USER bot
EXPOSE 8080
# Ready = the database answers and the schema is current (/readyz; 503 otherwise), which is
# what compose's `service_healthy` and a load balancer need. Docker and podman do not
# restart on it; an orchestrator's liveness probe should use /healthz instead. BOT_PORT:
# the port when `run --port` is given another one.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('BOT_PORT', '8080'), timeout=2)"]
# SIGTERM (docker/podman stop) finishes work in progress, then exits 0.
STOPSIGNAL SIGTERM
# Secrets (WECOM_*, BOT_SESSION_KEY) and BOT_DATABASE_URL come from the environment.
CMD ["python", "-m", "bot", "run", "--config", "/app/config.toml", "--log-json"]
