#!/usr/bin/env bash
# Start Debian's redis-server on loopback (the Celery broker and result backend, the shared rate
# limiter). Idempotent: a server already answering on the port is left alone.
set -euo pipefail
port="${SNIPER_REDIS_PORT:-6379}"
if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
  echo "Redis already up on 127.0.0.1:${port}"
  exit 0
fi
dir="${SNIPER_REDIS_DIR:-/tmp/sniper-redis-${port}}"
mkdir -p "$dir"
# Loopback only, no persistence: the queue holds only in-flight steps, runs live in PostgreSQL.
redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes --save "" --appendonly no \
  --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
for _ in $(seq 1 30); do
  redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.2
done
redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null
echo "Redis ready on 127.0.0.1:${port}"
