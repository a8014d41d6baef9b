#!/usr/bin/env bash
# Prepares a pilot relay for `docker compose -f deploy/compose.yaml up -d`:
#   deploy/.env                     PostgreSQL password and the pilot's settings (mode 0600)
#   deploy/secrets/admin.token      the operator admin token (mode 0600; the relay keeps its hash)
#   deploy/secrets/tls/*.pem        a self-signed TLS certificate for HOST (replace for production)
# Usage: deploy/pilot-init.sh [HOST]   (default: localhost). Refuses to overwrite what exists.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
host="${1:-localhost}"
umask 077
mkdir -p "$here/secrets/tls"

if [ -e "$here/.env" ]; then
    echo "keeping the existing $here/.env" >&2
else
    password="$(openssl rand -hex 24)"
    sed -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$password/" \
        -e "s/^LIAISON_HOST=.*/LIAISON_HOST=$host/" \
        "$here/pilot.env.example" > "$here/.env"
    echo "wrote $here/.env" >&2
fi

if [ -e "$here/secrets/admin.token" ]; then
    echo "keeping the existing admin token in $here/secrets/admin.token" >&2
else
    openssl rand -base64 32 | tr -d '=\n' | tr '+/' '-_' > "$here/secrets/admin.token"
    # Readable inside the relay container by its entrypoint (root), which stores the hash.
    chmod 0600 "$here/secrets/admin.token"
    echo "Operator admin token (store it now, e.g. in a password manager):" >&2
    echo "  $(cat "$here/secrets/admin.token")" >&2
fi

if [ -e "$here/secrets/tls/fullchain.pem" ]; then
    echo "keeping the existing certificate in $here/secrets/tls" >&2
else
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
        -subj "/CN=$host" -addext "subjectAltName=DNS:$host" \
        -keyout "$here/secrets/tls/privkey.pem" -out "$here/secrets/tls/fullchain.pem" 2>/dev/null
    chmod 0644 "$here/secrets/tls/fullchain.pem"
    echo "self-signed certificate for $host; its SHA-256 fingerprint (for the officers' clients):" >&2
    openssl x509 -in "$here/secrets/tls/fullchain.pem" -noout -fingerprint -sha256 >&2
fi
echo "next: docker compose -f $here/compose.yaml up -d --build" >&2
