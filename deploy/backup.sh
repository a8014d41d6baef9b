#!/usr/bin/env bash
# Consistent online backup of a Liaison relay: the data folder's keys and the database.
# Usage: backup.sh DATA_DIR DEST_DIR [POSTGRES_URL]
# Restore: docs/operations.md ("Backup and restore").
set -euo pipefail
data_dir="$1"; dest="$2"; db="${3:-}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$dest/liaison-$stamp"
umask 077
mkdir -p "$out"
# Keys first: the log signing key never changes after first start. The admin token itself is
# never on disk, only its hash (admin.token.blake2b); a plaintext admin.token left by an older
# release is turned into the hash when the relay starts, and is not copied here.
cp -p "$data_dir/log-signing.key" "$data_dir/admin.token.blake2b" "$data_dir/server.json" "$out/"
if [ -z "$db" ]; then
    # SQLite online backup API: a consistent copy while the relay keeps running.
    python3 - "$data_dir/liaison.db" "$out/liaison.db" <<'PY'
import sqlite3, sys
src = sqlite3.connect(sys.argv[1])
dst = sqlite3.connect(sys.argv[2])
with dst:
    src.backup(dst)
dst.close(); src.close()
PY
else
    pg_dump --format=custom --file="$out/liaison.pgdump" "$db"
fi
echo "backup written to $out"
