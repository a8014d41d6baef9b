"""`liaison serve`: run the relay server (SQLite in the data folder, or PostgreSQL with --db)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

from liaison.i18n import _

# Slow clients (issue 14, defect 11): a connection that has not sent its headers by then is
# closed (aiohttp's keep-alive timer runs from the connection's start until a request arrives).
DEFAULT_HEADER_TIMEOUT = 15.0
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=Path("var"), help=_("Data folder (keys, SQLite file)")
    )
    parser.add_argument(
        "--db",
        "--database-url",
        dest="database_url",
        help=_(
            "Database URL, e.g. postgresql://user@host/liaison (default: SQLite in the data folder)"
        ),
    )
    parser.add_argument(
        "--db-schema",
        type=_schema_name,
        help=_("PostgreSQL schema for the relay's tables (default: the role's search_path)"),
    )


def _schema_name(text: str) -> str:
    if not SCHEMA_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            _("a schema name is lower-case letters, digits and _, starting with a letter or _")
        )
    return text


def database_schema(args: argparse.Namespace) -> str | None:
    """The --db-schema given: only with a PostgreSQL --db, and only a schema that exists (the
    relay does not create it: that takes a privilege the relay's role need not have)."""
    from liaison.cli._common import CommandError, run
    from liaison.server.database import database_url, is_sqlite, schema_exists

    schema: str | None = args.db_schema
    if not schema:
        return None
    url = database_url(args.data_dir, args.database_url)
    if is_sqlite(url):
        raise CommandError(_("--db-schema needs a PostgreSQL --db."), code="invalid_arguments")
    if not run(schema_exists(url, schema)):
        raise CommandError(
            _("Schema {schema} does not exist; create it first: CREATE SCHEMA {schema};").format(
                schema=schema
            ),
            code="unknown_schema",
        )
    return schema


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help=_("Run the relay server"))
    add_database_options(parser)
    parser.add_argument("--host", default="127.0.0.1", help=_("Address to listen on"))
    parser.add_argument("--port", type=int, default=8080, help=_("Port to listen on"))
    parser.add_argument(
        "--attachment-quota",
        type=_mebibytes,
        default=None,
        metavar="MIB",
        help=_("Attachment storage each agency may use, in MiB (default: no limit)"),
    )
    parser.add_argument(
        "--envelope-quota",
        type=_mebibytes,
        default=None,
        metavar="MIB",
        help=_(
            "Envelope storage each agency's devices may use until retention deletes it, in MiB"
            " (default: 10240, 10 GiB; 0: no limit)"
        ),
    )
    parser.add_argument(
        "--header-timeout",
        type=_positive_seconds,
        default=DEFAULT_HEADER_TIMEOUT,
        help=_("Seconds a client has to send a request's headers (and between requests)"),
    )
    parser.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        type=_rate_limit,
        metavar="NAME=PER_MINUTE",
        help=_(
            "Change one rate limit, e.g. send_per_device=600 (0: none); names: "
            "challenge, send, fetch, review, each _per_device or _per_address"
        ),
    )
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help=_("Serve without rate limits (load tests and benchmarks only)"),
    )
    add_worker_options(parser)
    parser.set_defaults(func=run)


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """--workers (issue 17, section 2) and the supervisor's own --worker (not shown)."""
    parser.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help=_(
            "Relay processes sharing the port (PostgreSQL only); SIGHUP restarts them one at a"
            " time, SIGTERM stops them"
        ),
    )
    # name:socket:ready — given by the supervisor to each worker it starts.
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help=_(
            "Log lines as text, or as one JSON object a line (time, level, logger, message)"
            " for log shippers"
        ),
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="P",
        help=_("Serve /metrics (Prometheus) on this port, apart from the relay's (default: none)"),
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help=_("Address of /metrics (default 127.0.0.1: this machine only)"),
    )


def _worker_count(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(_("a number of workers between 1 and 64"))
    return int(text)


def _mebibytes(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise argparse.ArgumentTypeError(_("a size in MiB is a whole number"))
    return int(text) * 1024 * 1024


def _rate_limit(text: str) -> tuple[str, float]:
    from liaison.server.ratelimit import RateLimits

    name, _sep, value = text.partition("=")
    try:
        per_minute = float(value)
        RateLimits().with_per_minute(name, per_minute)
    except ValueError:
        per_minute = -1.0
    if per_minute < 0:
        raise argparse.ArgumentTypeError(
            _("give NAME=PER_MINUTE, e.g. send_per_device=600 (0: no limit)")
        )
    return name, per_minute


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(_("a number of seconds between 0 and 3600"))
    return value


def _announce(token: str) -> None:
    # Shown once, on the operator's own terminal; the data folder keeps only its hash.
    print(
        _("Operator admin token (shown once; the data folder keeps only its hash, store it now):")
    )
    print(f"  {token}")
    sys.stdout.flush()


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message (and the exception's
    traceback as `exception`). The relay logs no plaintext, tokens or keys in either format."""

    def format(self, record: logging.LogRecord) -> str:
        from datetime import UTC, datetime

        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from liaison.cli._common import CommandError
    from liaison.server.app import Settings, create_app
    from liaison.server.ratelimit import RateLimits
    from liaison.server.relay import DEFAULT_ENVELOPE_QUOTA

    configure_logging(getattr(args, "log_format", "text"))
    # One line per cause per minute from the per-connection loggers (issue 14, defect 2).
    from liaison.server.ratelog import limit_server_error_logs

    limit_server_error_logs()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    limits = RateLimits.off() if args.no_rate_limits else RateLimits()
    for name, per_minute in args.rate_limit:
        limits = limits.with_per_minute(name, per_minute)
    settings = Settings(
        data_dir=args.data_dir,
        database_url=args.database_url,
        db_schema=database_schema(args),
        host=args.host,
        port=args.port,
        announce_admin_token=_announce,
        attachment_quota_bytes=args.attachment_quota,
        envelope_quota_bytes=(
            DEFAULT_ENVELOPE_QUOTA if args.envelope_quota is None else args.envelope_quota or None
        ),
        rate_limits=limits,
        metrics=args.metrics_port is not None,
    )
    if args.metrics_port is not None and args.metrics_port == args.port:
        raise CommandError(
            _("--metrics-port must differ from --port: /metrics is never on the public port."),
            code="invalid_arguments",
        )
    if args.worker or args.workers > 1:
        from liaison.cli.serve_workers import run_workers

        return run_workers(args, settings)
    if args.metrics_port is not None:
        from liaison.server.metrics import serve_metrics

        serve_metrics(args.metrics_host, args.metrics_port)

    def listening(_aiohttp_banner: str) -> None:
        # run_app calls this once its sites have started: the socket is bound and accepting.
        print(
            _("Liaison relay listening on http://{host}:{port}/v1/health").format(
                host=args.host, port=args.port
            )
        )
        sys.stdout.flush()

    web.run_app(
        create_app(settings),
        host=args.host,
        port=args.port,
        print=listening,
        access_log=None,
        keepalive_timeout=args.header_timeout,
    )
    return 0
