"""`liaison serve --workers N`: the supervisor (keys, migration, socket, workers) and a worker.

The processes themselves are liaison/server/workers.py's; this is the command line around them.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from typing import TYPE_CHECKING

from liaison.cli._common import CommandError, run
from liaison.i18n import _

if TYPE_CHECKING:  # every liaison.cli module is imported to build the parser: keep this light
    from liaison.server.relay import Settings

log = logging.getLogger(__name__)


def run_workers(args: argparse.Namespace, settings: Settings) -> int:
    if args.worker:
        return _worker(args, settings)
    return _supervise(args, settings)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.server.app import create_app
    from liaison.server.workers import serve_worker

    name, fd, ready = args.worker.split(":")
    index = int(name.split(".")[0])
    settings = replace(
        settings,
        worker_name=name,
        announce_admin_token=None,  # the supervisor made the keys and showed the token
        # One retention purge for the whole relay: the first worker's.
        purge_interval=settings.purge_interval if index == 0 else 0,
    )
    serve_worker(create_app(settings), int(fd), int(ready), keepalive_timeout=args.header_timeout)
    return 0


def _supervise(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.server.database import database_url, is_sqlite, upgrade_database
    from liaison.server.identity import ensure_server_identity
    from liaison.server.metrics import serve_metrics, worker_ended
    from liaison.server.workers import Supervisor, bind_shared_socket, worker_command

    if is_sqlite(database_url(settings.data_dir, settings.database_url)):
        raise CommandError(
            _(
                "--workers above 1 needs PostgreSQL (--db postgresql://…): a SQLite database"
                " has one writing process, so several workers would only wait for each other."
            ),
            code="invalid_arguments",
        )
    # Once, before any worker: the keys (and the admin token, shown here) and the tables.
    _identity, new_token = ensure_server_identity(settings.data_dir, rng=settings.rng)
    if new_token is not None and settings.announce_admin_token is not None:
        settings.announce_admin_token(new_token)
    run(upgrade_database(settings.data_dir, settings.database_url, settings.db_schema))
    try:
        sock = bind_shared_socket(settings.host, settings.port)
    except OSError as exc:
        raise CommandError(
            _("Cannot listen on {host}:{port}: {reason}").format(
                host=settings.host, port=settings.port, reason=exc.strerror
            ),
            code="address_in_use",
        ) from exc
    supervisor = Supervisor(
        sock, args.workers, lambda name, ready: worker_command(name, sock.fileno(), ready)
    )
    if args.metrics_port is not None:
        # Each worker writes its figures here; the supervisor serves their sum.
        folder = tempfile.mkdtemp(prefix="liaison-metrics-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        supervisor.env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": folder}
        supervisor.on_exit = functools.partial(worker_ended, folder)
        serve_metrics(args.metrics_host, args.metrics_port, multiprocess_dir=folder)

    def ready() -> None:
        print(
            _("Liaison relay listening on http://{host}:{port}/v1/health").format(
                host=settings.host, port=settings.port
            )
        )
        print(
            _("{count} workers; SIGHUP restarts them one at a time, SIGTERM stops them.").format(
                count=args.workers
            )
        )
        sys.stdout.flush()

    return supervisor.run(on_ready=ready)
