#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1:54329 for the distributed-tuning
# tests and print the URL they should use. Needs root and Debian's postgresql package.
set -euo pipefail
PORT=54329
PGDATA=/tmp/twolayer-ci-postgres
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() { runuser -u postgres -- "$@"; }
if [ -f "$PGDATA/postmaster.pid" ]; then
    as_postgres "$BIN/pg_ctl" -D "$PGDATA" stop -m fast >/dev/null 2>&1 || true
fi
rm -rf "$PGDATA"
mkdir -p "$PGDATA"
chown postgres: "$PGDATA"
as_postgres "$BIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
as_postgres "$BIN/pg_ctl" -D "$PGDATA" -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1" \
    -l "$PGDATA/server.log" start -w >/dev/null
as_postgres psql -q -h /tmp -p "$PORT" -U postgres \
    -c "CREATE USER twolayer PASSWORD 'ci-secret-pw'" -c "CREATE DATABASE twolayer OWNER twolayer"
echo "postgresql://twolayer:ci-secret-pw@127.0.0.1:$PORT/twolayer"
