#!/bin/sh
# Registers the service's custom search attributes (src/temporal/search-attributes.ts) in its namespace,
# before the API and workers start (docker-compose.yml: temporal-search-attributes; the Helm
# chart's setup Job runs the same steps). Safe to run again: attributes already there are kept.
# test/deploy-scripts.test.ts runs it against a dev server.
set -eu
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
. "$(dirname "$0")/retry.sh"

# A namespace just created reaches every frontend's namespace cache within about 10 seconds.
list_attributes() { existing=$(temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" 2>&1); }
retry "temporal-search-attributes: cannot list the search attributes of $NAMESPACE" 1 list_attributes
for name in ConsentEmailHash ConsentEnvironment ConsentOutcome; do
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "temporal-search-attributes: $name is registered"
  else
    temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" --name "$name" --type Keyword
    echo "temporal-search-attributes: registered $name (Keyword)"
  fi
done
