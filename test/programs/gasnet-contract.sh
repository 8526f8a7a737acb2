#!/bin/sh
# GASNet ssh-spawner contract check (GASNet itself is not packaged here). A GASNet job with
# GASNET_SPAWNFN=S runs `$GASNET_SSH_CMD $GASNET_SSH_OPTIONS HOST CMD` for each host in GASNET_SSH_SERVERS;
# this does the same and prints one "GASNET <host> <remote hostname> <remote MULTINODE_NODE_RANK>" line per host.
set -eu
[ "${GASNET_SPAWNFN:-}" = S ] || { echo "GASNET_SPAWNFN is '${GASNET_SPAWNFN:-}', want S" >&2; exit 2; }
[ -n "${GASNET_SSH_SERVERS:-}" ] || { echo "GASNET_SSH_SERVERS is empty" >&2; exit 2; }
[ -x "${GASNET_SSH_CMD:-}" ] || { echo "GASNET_SSH_CMD '${GASNET_SSH_CMD:-}' is not executable" >&2; exit 2; }
# GASNet reads the servers list split on spaces, commas or newlines.
for h in $(printf '%s' "$GASNET_SSH_SERVERS" | tr ',\n' '  '); do
  # shellcheck disable=SC2086,SC2016
  out=$(MULTINODE_WRAPPER_FORWARD_STREAMS=1 "$GASNET_SSH_CMD" ${GASNET_SSH_OPTIONS:-} "$h" 'echo "$(hostname) ${MULTINODE_NODE_RANK:-?}"')
  echo "GASNET $h $out"
done
