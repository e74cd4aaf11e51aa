#!/bin/sh
# Creates the service's namespace with an explicit retention, or sets that retention on an
# existing one (docker-compose.yml: temporal-namespace; test/deploy-scripts.test.ts runs it
# against a dev server). Retention is how long closed workflows stay queryable: a parked change
# is restorable (`npm run consent -- retry-parked`) only while its closed run is kept.
set -eu
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION_DAYS=${TEMPORAL_RETENTION_DAYS:-30}
. "$(dirname "$0")/retry.sh"

serving() { temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; }
retry "temporal-namespace: Temporal at $TEMPORAL_ADDRESS is not serving" 2 serving

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1; then
  # A namespace created moments ago is described before every frontend can update it: retry.
  retry "temporal-namespace: could not set the retention of $NAMESPACE" 2 \
    temporal operator namespace update --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" --retention "${RETENTION_DAYS}d"
  echo "temporal-namespace: $NAMESPACE exists; retention set to $RETENTION_DAYS days"
else
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" --retention "${RETENTION_DAYS}d"
  echo "temporal-namespace: created $NAMESPACE with a retention of $RETENTION_DAYS days"
fi
