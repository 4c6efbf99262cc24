# PostgreSQL 15 from Debian's packages, for docker-compose.yml's local trial only. Built
# from the same Debian base as the bot's image, so the trial needs no registry; with one
# at hand, the official postgres:15 image is equivalent (same variables, same port).
# Production: a managed or separately run PostgreSQL (docs/deployment.md).
FROM debian:bookworm-slim

# No "main" cluster at install: the entrypoint makes one in $PGDATA (the volume).
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /run/postgresql

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
USER postgres
EXPOSE 5432
HEALTHCHECK --interval=2s --timeout=3s --retries=30 \
    CMD pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"
# SIGINT = PostgreSQL's "fast" shutdown: sessions closed, a checkpoint written.
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint"]
