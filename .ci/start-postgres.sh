#!/usr/bin/env bash
# Start Debian's PostgreSQL cluster on loopback. CI runs as root and initdb refuses root,
# so the cluster is managed with pg_ctlcluster (it runs the server as the postgres user).
set -euo pipefail
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^${version} main"; then
  pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p 5432 -q && break
  sleep 1
done
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sniper') THEN
    CREATE ROLE sniper LOGIN SUPERUSER PASSWORD 'sniper';
  END IF;
END $$;
SQL
for db in sniper_test sniper_dagster_test; do
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='${db}'\"" | grep -q 1 \
    || su postgres -c "createdb -O sniper ${db}"
done
echo "PostgreSQL ${version} ready on 127.0.0.1:5432"
