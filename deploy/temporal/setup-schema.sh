#!/bin/sh
# Creates the Temporal and visibility databases on PostgreSQL and brings both schemas to the
# version of the temporalio/admin-tools image running this (docker-compose.yml: temporal-schema).
# Safe to run again: `create` leaves an existing database alone, `setup-schema -v 0.0` only makes
# the version table, and `update-schema` applies only the versions a database lacks.
set -eu
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
SCHEMA_DIR=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "${DB_PORT:-5432}" "$@"
}

for database in temporal temporal_visibility; do
  case "$database" in
    temporal) schema=temporal ;;
    *) schema=visibility ;;
  esac
  sql --db "$database" create
  sql --db "$database" setup-schema -v 0.0
  sql --db "$database" update-schema -d "$SCHEMA_DIR/$schema/versioned"
done
echo "temporal-schema: temporal and temporal_visibility are at the image's schema version"
