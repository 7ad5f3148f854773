#!/usr/bin/env bash
# The entrypoint of ghcr.io/nexios-labs/nexios-postgres:15 (the image's spec
# is nexios-postgres in tools/images/imagebuild/specs.go). It follows the
# official image's docker-entrypoint.sh (docker-library/postgres,
# 15/bookworm) with what does not apply left out: the image always runs as
# postgres (UID and GID 999; no gosu, no nss_wrapper for other users) and
# has no /docker-entrypoint-initdb.d scripts nor *_FILE variables.
#
# The environment, as the official image's:
#   POSTGRES_PASSWORD  the password of POSTGRES_USER (required to initialise)
#   POSTGRES_USER      the superuser initdb makes (default: postgres)
#   POSTGRES_DB        a database made at initialisation (default: POSTGRES_USER)
#   PGDATA             the data folder (the image's default:
#                      /var/lib/postgresql/data/pgdata, below the volume)
#
# `postgres [options]` (the default command), or options alone, initialise
# PGDATA when it holds no database yet and then run the server in the
# foreground as this process (PID 1 in a container). The image's stop signal
# is SIGINT, PostgreSQL's fast shutdown (SIGTERM is its smart shutdown, which
# waits for every client to disconnect). Any other command (psql, pg_dump,
# pg_isready, bash) runs as given.
set -Eeuo pipefail

# No arguments, or options alone, mean the server (the image's command is
# `postgres`; a pod's `args` may give options only).
if [ "$#" -eq 0 ] || [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	echo >&2 "error: this image runs PostgreSQL as postgres (UID 999), not as root: set runAsUser: 999 (docker run --user 999:999)"
	exit 1
fi

# PGDATA is a folder below the volume: initdb wants an empty folder of mode
# 0700 owned by its user, and a fresh volume is root's, group 999 (fsGroup),
# mode 2775, and may hold lost+found.
if ! mkdir -p "$PGDATA" || ! chmod 00700 "$PGDATA"; then
	echo >&2 "error: UID $(id -u) cannot make PGDATA ($PGDATA) its own folder of mode 0700: give the volume fsGroup 999 (group-writable by postgres)"
	exit 1
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo >&2 "error: PGDATA ($PGDATA) holds no database and POSTGRES_PASSWORD is empty: set POSTGRES_PASSWORD, the password of POSTGRES_USER, to initialise it"
		exit 1
	fi
	user="${POSTGRES_USER:-postgres}"
	db="${POSTGRES_DB:-$user}"

	# The password goes through a pipe, never a file or the command line.
	# Connections over TCP need it (scram-sha-256); the Unix socket, only
	# reachable inside the container, trusts its local users.
	initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--auth-local=trust --auth-host=scram-sha-256
	# initdb's TCP lines cover localhost only; the server listens on every
	# address (listen_addresses = '*' in the image's sample configuration).
	printf '\n# nexios-postgres: password (scram-sha-256) for every TCP client\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

	if [ "$db" != postgres ]; then
		# A server on the Unix socket only, while the database is made.
		pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
		psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username="$user" --dbname=postgres \
			--set db="$db" <<<'CREATE DATABASE :"db";'
		pg_ctl -D "$PGDATA" -m fast -w stop
	fi
	echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
