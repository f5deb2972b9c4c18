#!/usr/bin/env bash
# Throwaway PostgreSQL server for the test suite, on loopback only.
#
#   eval "$(.ci/postgres.sh start)"        # installs if missing, starts, exports:
#                                          #   PMC_TEST_POSTGRES_URL, PMC_TEST_POSTGRES_DIR
#   trap '.ci/postgres.sh stop "$PMC_TEST_POSTGRES_DIR"' EXIT
#   python -m pytest ...
#
# `start` installs the Debian `postgresql` package when no server binaries are
# found (apt-get update once, then apt-get install -y postgresql), runs initdb
# into a fresh temporary directory with trust authentication (loopback only,
# nothing else can connect), listens on 127.0.0.1 on a free port with its unix
# socket inside that directory, and creates the database `pmc_test`.
# Only `export ...` lines go to stdout so that `eval` is safe; progress goes
# to stderr. `stop DIR` stops that server and deletes DIR.
set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

install_postgres() {
    log "installing postgresql from Debian packages"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" apt-get install -y postgresql >&2
}

# initdb and postgres refuse to run as root: run them as `postgres` then.
as_db_user() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

start() {
    local bindir dir port
    bindir=$(find_bindir) || { install_postgres; bindir=$(find_bindir); }
    dir=$(mktemp -d /tmp/pmc-postgres.XXXXXX)
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$dir"
    fi
    port=$(free_port)
    if ! as_db_user "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        return 1
    fi
    # fsync off: the data is thrown away after the run, and it keeps tests fast.
    as_db_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" \
        start >&2
    "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c 'CREATE DATABASE pmc_test' >&2
    log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)"
    printf 'export PMC_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:%s/pmc_test\n' "$port"
    printf 'export PMC_TEST_POSTGRES_DIR=%s\n' "$dir"
}

stop() {
    local dir=${1:?usage: postgres.sh stop DIR}
    local bindir
    if [[ -d "$dir/data" ]] && bindir=$(find_bindir); then
        as_db_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    fi
    case "$dir" in
        /tmp/pmc-postgres.*) rm -rf -- "$dir" ;;
        *) log "not deleting $dir (not made by this script)" ;;
    esac
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *)
        log "usage: $0 start | $0 stop DIR"
        exit 2
        ;;
esac
