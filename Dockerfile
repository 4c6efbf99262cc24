# The bot as a container image: one replica per container (docs/deployment.md).
# Not built or run on the development machines (no Docker engine there): written to be
# read, and tried with `docker compose up` where Docker is available.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The CJK font the printed QR cards are set in (bot/cards/, docs/cards.md).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home --home-dir /app bot

# Dependencies first, so editing operator files or templates does not reinstall them.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install ".[pg]"

# Operator files: in production, mount your own over these (or build an image per chain).
COPY sop ./sop
COPY templates ./templates
COPY deploy/config.toml ./config.toml

USER bot
EXPOSE 8080
# Liveness only: /readyz (database, migrations) is for the load balancer, not for restarts.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
# Secrets (WECOM_*, BOT_SESSION_KEY) and BOT_DATABASE_URL come from the environment.
CMD ["python", "-m", "bot", "run", "--config", "/app/config.toml", "--log-json"]
