# Sourced by the setup jobs in this folder. `retry WHAT PAUSE COMMAND [ARG…]` runs COMMAND until it
# succeeds, at most $ATTEMPTS times (SETUP_ATTEMPTS, default 60) with PAUSE seconds between, then
# fails saying WHAT did not happen.
ATTEMPTS=${SETUP_ATTEMPTS:-60}

retry() {
  what=$1
  pause=$2
  shift 2
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
      echo "$what after $ATTEMPTS attempts" >&2
      return 1
    fi
    attempt=$((attempt + 1))
    sleep "$pause"
  done
}
