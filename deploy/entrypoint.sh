#!/usr/bin/env bash
# Container entrypoint of the relay: migrate the database to the newest schema, then serve.
# Environment: LIAISON_DATA_DIR, LIAISON_DB (empty: SQLite in the data folder), LIAISON_PORT,
# LIAISON_WORKERS (PostgreSQL only), LIAISON_LANG. An admin token given as the file
# /run/secrets/admin_token (deploy/pilot-init.sh makes one) is stored as its hash on first start.
set -euo pipefail
data_dir="${LIAISON_DATA_DIR:-/var/lib/liaison}"
port="${LIAISON_PORT:-8080}"
db_args=()
if [ -n "${LIAISON_DB:-}" ]; then
    db_args=(--db "$LIAISON_DB")
fi

as_liaison=()
if [ "$(id -u)" = "0" ]; then
    mkdir -p "$data_dir"
    chown liaison:liaison "$data_dir"
    chmod 0700 "$data_dir"
    # First start: the operator's chosen token; the relay keeps only its hash and removes it.
    if [ -r /run/secrets/admin_token ] && [ ! -e "$data_dir/admin.token.blake2b" ]; then
        install -o liaison -g liaison -m 0600 /run/secrets/admin_token "$data_dir/admin.token"
    fi
    as_liaison=(setpriv --reuid=liaison --regid=liaison --init-groups)
fi

echo "liaison-entrypoint: migrating the database" >&2
"${as_liaison[@]}" liaison db upgrade --data-dir "$data_dir" "${db_args[@]}"

serve=(liaison serve --data-dir "$data_dir" "${db_args[@]}" --host 0.0.0.0 --port "$port"
       --log-format json)
if [ -n "${LIAISON_WORKERS:-}" ] && [ "${LIAISON_WORKERS}" != "1" ]; then
    serve+=(--workers "$LIAISON_WORKERS")
fi
exec "${as_liaison[@]}" "${serve[@]}" "$@"
