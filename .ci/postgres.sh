#!/usr/bin/env bash
# PostgreSQL for the test suite's second run, from Debian's packages. Idempotent: installs
# only what is missing, starts the cluster if it is down, creates the role and database if
# they do not exist. Prints the SQLAlchemy URL on stdout (everything else goes to stderr).
set -euo pipefail

ROLE=bot_ci
DB=bot_ci
PASSWORD=bot_ci  # a throwaway role on a loopback-only cluster

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" > /dev/null; then
    echo "installing PostgreSQL from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q postgresql >&2
fi
VERSION=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1}' | grep -qx "$VERSION"; then
    pg_createcluster "$VERSION" main >&2
fi
CLUSTER=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v {print $2; exit}')
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v {print $3; exit}')
if ! pg_ctlcluster "$VERSION" "$CLUSTER" status > /dev/null 2>&1; then
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
for _ in $(seq 1 30); do  # the server accepts connections a moment after it starts
    runuser -u postgres -- pg_isready -q -p "$PORT" && break
    sleep 1
done

psql_admin() { runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
    psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >&2
fi
# Tests commit often and need no durability across a power cut: for this role only.
psql_admin -c "ALTER ROLE $ROLE SET synchronous_commit = off" >&2
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE" >&2
fi
echo "postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
