#!/bin/sh
# Starts redis-server for warden's examples (docker-compose.yaml, and the
# Kubernetes manifests, which carry a copy of this file in a ConfigMap):
#
#   REDIS_ANNOUNCE       the name this node is known by in warden's groups;
#                        announced to the master (replica-announce-ip), so
#                        that every watchdog sees the replica under that name
#   REDIS_SEED_MASTER    the node that is master on the very first start; the
#                        others start as its replicas. After a failover a node
#                        may come back pointing at the wrong master: warden
#                        makes it a replica of the current one within a probe
#                        interval of seeing it.
#   REDIS_PASSWORD_FILE  requirepass and masterauth, read from a file so that
#                        the password is never on a command line
#   REDIS_CONF           where the generated configuration goes
#                        (default /tmp/redis.conf)
#   REDIS_DIR            the data directory (default /data)
set -eu
: "${REDIS_ANNOUNCE:?}" "${REDIS_SEED_MASTER:?}" "${REDIS_PASSWORD_FILE:?}"
conf=${REDIS_CONF:-/tmp/redis.conf}
dir=${REDIS_DIR:-/data}

# Without surrounding white space, as warden reads it; in a double-quoted
# redis.conf value, \ and " need a backslash.
password=$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/[\\"]/\\&/g' "$REDIS_PASSWORD_FILE")
if [ -z "$password" ]; then
	echo "redis-start: $REDIS_PASSWORD_FILE is empty" >&2
	exit 1
fi

umask 077
{
	# printf, not echo: some shells' echo eats backslashes.
	printf 'port 6379\n'
	printf 'dir %s\n' "$dir"
	printf 'appendonly yes\n'
	printf 'requirepass "%s"\n' "$password"
	printf 'masterauth "%s"\n' "$password"
	printf 'replica-announce-ip %s\n' "$REDIS_ANNOUNCE"
	if [ "$REDIS_ANNOUNCE" != "$REDIS_SEED_MASTER" ]; then
		printf 'replicaof %s 6379\n' "$REDIS_SEED_MASTER"
	fi
} >"$conf"
exec redis-server "$conf"
