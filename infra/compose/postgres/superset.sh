#!/bin/sh
# Superset's metadata database beside Airflow's, with its own owner. The postgres image runs the
# scripts of /docker-entrypoint-initdb.d/ only when it creates its data volume (first start).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$SUPERSET_DB_PASSWORD" <<'SQL'
CREATE USER superset WITH PASSWORD :'password';
CREATE DATABASE superset OWNER superset;
SQL
