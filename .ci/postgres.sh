# Sourced by .ci/run: a PostgreSQL server on 127.0.0.1 for the tests of `pimtune sweep`.
#
# Installs the distribution's postgresql package when no server is installed (apt-get,
# as root or with sudo), starts a private cluster in a temporary folder on port
# $PIMTUNE_PG_PORT (default 54329) with password authentication over TCP, creates the
# role and database `pimtune` (password `pimtune`, allowed to create databases: each test
# makes its own) and exports PIMTUNE_TEST_POSTGRES_URL. `pimtune_pg_stop` stops it.
# Does nothing when PIMTUNE_TEST_POSTGRES_URL is already set.

pimtune_pg_start() {
    if [ -n "${PIMTUNE_TEST_POSTGRES_URL:-}" ]; then
        return 0
    fi
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] && ! command -v initdb >/dev/null; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
        echo "ci: installing PostgreSQL from the distribution's packages"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
    [ -n "$bin" ] || bin=$(dirname "$(command -v initdb)")
    local port=${PIMTUNE_PG_PORT:-54329}
    PIMTUNE_PG_DIR=$(mktemp -d /tmp/pimtune-pg.XXXXXX)
    local run=()
    if [ "$(id -u)" -eq 0 ]; then                 # the server refuses to run as root
        chown postgres "$PIMTUNE_PG_DIR"
        run=(runuser -u postgres --)
    fi
    echo pimtune > "$PIMTUNE_PG_DIR/pw"
    chmod 644 "$PIMTUNE_PG_DIR/pw"
    "${run[@]}" "$bin/initdb" -D "$PIMTUNE_PG_DIR/data" -U pimtune --pwfile="$PIMTUNE_PG_DIR/pw" \
        --auth-host=scram-sha-256 --auth-local=trust >/dev/null
    "${run[@]}" "$bin/pg_ctl" -D "$PIMTUNE_PG_DIR/data" -l "$PIMTUNE_PG_DIR/server.log" -w \
        -o "-p $port -k $PIMTUNE_PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
    PIMTUNE_PG_CTL=("${run[@]}" "$bin/pg_ctl" -D "$PIMTUNE_PG_DIR/data")
    "${run[@]}" "$bin/psql" -q -h "$PIMTUNE_PG_DIR" -p "$port" -U pimtune -d postgres \
        -c "CREATE DATABASE pimtune" >/dev/null
    export PIMTUNE_TEST_POSTGRES_URL="postgresql://pimtune:pimtune@127.0.0.1:$port/pimtune"
    echo "ci: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

pimtune_pg_stop() {
    if [ -n "${PIMTUNE_PG_DIR:-}" ]; then
        "${PIMTUNE_PG_CTL[@]}" stop -m fast >/dev/null 2>&1 || true
        rm -rf "$PIMTUNE_PG_DIR"
    fi
}
