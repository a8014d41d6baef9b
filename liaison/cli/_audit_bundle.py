"""`liaison audit export` and `liaison audit verify-bundle`: offline-checkable audit bundles."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from crypto.errors import CryptoError
from liaison.cli._common import (
    CommandError,
    add_json_option,
    add_local_options,
    add_relay_options,
    add_server_option,
    command,
    home_from_args,
    on_relay,
    print_json,
    print_result,
    read_input,
    write_output,
)
from liaison.client.errors import BadInput
from liaison.i18n import _

if TYPE_CHECKING:
    from liaison.client.transport import ApiClient


def register(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = group.add_parser(
        "export",
        help=_("Write a self-verifying bundle of the log entries of a period"),
    )
    export.add_argument("--from", dest="start", required=True, help=_("First day (YYYY-MM-DD)"))
    export.add_argument("--to", dest="end", required=True, help=_("Last day (YYYY-MM-DD)"))
    export.add_argument("-o", "--output", required=True, help=_("Bundle file to write"))
    scope = export.add_mutually_exclusive_group()
    scope.add_argument("--agency", help=_("Agency whose entries to export (default: your own)"))
    scope.add_argument(
        "--all", action="store_true", help=_("Export every entry of the period (auditors)")
    )
    add_relay_options(export, json=False)
    export.set_defaults(func=cmd_export)

    verify = group.add_parser(
        "verify-bundle", help=_("Verify an audit bundle offline, with no server")
    )
    verify.add_argument("bundle", help=_("Bundle file"))
    verify.add_argument(
        "--log-key", help=_("The log public key (base64) you obtained out of band, to pin")
    )
    add_json_option(verify)
    verify.set_defaults(func=cmd_verify_bundle)

    witness = group.add_parser(
        "witness",
        help=_("Countersign the server's checkpoint after checking it extends the last one"),
    )
    add_server_option(witness)
    witness.add_argument("--name", help=_("This witness's key name (first run only)"))
    witness.add_argument(
        "--show-key", action="store_true", help=_("Print the witness public key and stop")
    )
    add_local_options(witness)
    witness.set_defaults(func=cmd_witness)

    trust = group.add_parser(
        "trust-witness", help=_("Know a witness key (exchanged out of band) and check its view")
    )
    trust.add_argument("name", metavar="NAME", help=_("The witness's key name"))
    trust.add_argument("public_key", metavar="KEY", help=_("The witness public key (base64)"))
    trust.add_argument(
        "--require",
        action="store_true",
        help=_("Fail the audit when no checkpoint is cosigned by a known witness"),
    )
    add_local_options(trust, json=False)
    trust.set_defaults(func=cmd_trust_witness)

    peer = group.add_parser(
        "trust-peer",
        help=_("Know the peer relay (the other country's) as a witness of your relay's log"),
    )
    peer.add_argument(
        "fingerprint",
        metavar="FINGERPRINT",
        help=_("The peer relay's key fingerprint or safety number, read out by its operator"),
    )
    peer.add_argument(
        "--require",
        action="store_true",
        help=_("Fail the audit unless the peer relay cosigned your relay's checkpoints"),
    )
    add_server_option(peer)
    add_local_options(peer)
    peer.set_defaults(func=cmd_trust_peer)


class _Progress:
    """A bar on a terminal, a plain counter line per step otherwise (both on stderr)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            width = 30
            filled = width * done // max(total, 1)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            if done >= total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(
                _("Read {done} of {total} log entries").format(done=done, total=total) + "\n"
            )
        sys.stderr.flush()


@command
def cmd_export(args: argparse.Namespace) -> int:
    from liaison.client import bundle as bundle_ops

    home = home_from_args(args)
    start = bundle_ops.parse_date_bound(args.start, end_of_day=False)
    end = bundle_ops.parse_date_bound(args.end, end_of_day=True)
    if end < start:
        raise BadInput(_("The period ends before it starts."))
    agency = None if args.all else (args.agency or home.config().get("agency"))
    if not args.all and not agency:
        raise BadInput(_("Give --agency CODE or --all: this home has no agency."))

    async def export(api: ApiClient) -> bytes:
        return await bundle_ops.export_bundle(
            home, api, start=start, end=end, agency=agency, progress=_Progress()
        )

    data = on_relay(home, args, export)
    write_output(args.output, data)
    report = bundle_ops.verify_bundle(data)
    print(
        _(
            "Wrote {path}: {count} log entries, checkpoint sizes {sizes}. Log key fingerprint: "
            "{fingerprint}"
        ).format(
            path=args.output,
            count=report.entries,
            sizes=", ".join(str(s) for s in report.checkpoint_sizes),
            fingerprint=report.log_key_fingerprint,
        )
    )
    return 0


@command
def cmd_verify_bundle(args: argparse.Namespace) -> int:
    from crypto.encoding import b64d
    from liaison.client import bundle as bundle_ops

    data = read_input(args.bundle)
    pinned = None
    if args.log_key:
        try:
            pinned = b64d(args.log_key)
        except CryptoError as exc:
            raise BadInput(_("The log key is not valid base64.")) from exc
    try:
        report = bundle_ops.verify_bundle(data, log_public_key=pinned)
    except bundle_ops.BundleError as exc:
        raise CommandError(
            _("The bundle does not verify: {reason}").format(reason=exc), code=exc.code
        ) from exc
    if args.json:
        print_json(report.to_dict())
        return 0
    print(
        _(
            "Bundle verified offline: {count} log entries of {agency}, checkpoint sizes {sizes}, "
            "cosigned by: {witnesses}."
        ).format(
            count=report.entries,
            agency=report.agency or _("every agency"),
            sizes=", ".join(str(s) for s in report.checkpoint_sizes),
            witnesses=", ".join(report.cosigned_by) or _("no witness"),
        )
    )
    print(
        _("Log {origin}, key fingerprint {fingerprint}").format(
            origin=report.origin, fingerprint=report.log_key_fingerprint
        )
    )
    if pinned is None:
        print(
            _(
                "Compare this fingerprint with the one the server's operator gave you out of "
                "band, or pass --log-key."
            )
        )
    return 0


@command
def cmd_witness(args: argparse.Namespace) -> int:
    from liaison.client import witness as witness_ops

    home = home_from_args(args)
    if args.show_key:
        if args.name:
            witness_ops.witness_name(home, args.name)
        info = witness_ops.public_info(home)
        print_result(
            args,
            info,
            _("Witness {name}: public key {key}, fingerprint {fingerprint}").format(
                name=info["name"], key=info["public_key"], fingerprint=info["fingerprint"]
            ),
        )
        return 0
    done = on_relay(home, args, lambda api: witness_ops.cosign(home, api, name=args.name))
    print_result(
        args,
        {"size": done.size, "previous_size": done.previous_size},
        _(
            "Cosigned the checkpoint of size {size} (consistent with size {old}, cosigned "
            "before) and submitted it to the server."
        ).format(size=done.size, old=done.previous_size),
    )
    return 0


@command
def cmd_trust_witness(args: argparse.Namespace) -> int:
    from liaison.client import witness as witness_ops

    home = home_from_args(args)
    witness_ops.add_known_witness(home, args.name, args.public_key, required=args.require)
    print(
        _("Witness {name} recorded; `liaison audit verify` checks its cosigned view.").format(
            name=args.name
        )
    )
    return 0


@command
def cmd_trust_peer(args: argparse.Namespace) -> int:
    from liaison.client import witness as witness_ops

    home = home_from_args(args)
    identity = on_relay(
        home,
        args,
        lambda api: witness_ops.add_peer_witness(
            home, api, args.fingerprint, required=args.require
        ),
    )
    print_result(
        args,
        {
            "origin": identity.origin,
            "fingerprint": identity.compact_fingerprint,
            "required": args.require,
        },
        _(
            "Peer relay {origin} recorded as a witness; `liaison audit verify` checks its "
            "cosigned view of your relay's log."
        ).format(origin=identity.origin),
    )
    return 0


async def demo_export(ctx: Any) -> None:
    """Demo step: the Dongxing officer exports the period's bundle; it verifies offline."""
    import time

    from liaison.client import bundle as bundle_ops

    home = ctx.officers["li"]
    day = 86400
    today = int(time.time()) // day * day
    data = await bundle_ops.export_bundle(
        home, ctx.client, start=today - day, end=today + 2 * day - 1, agency="CN-GX-DXGA"
    )
    path = ctx.folder / "audit-CN-GX-DXGA.bundle"
    path.write_bytes(data)
    report = bundle_ops.verify_bundle(path.read_bytes())
    ctx.say(
        _(
            "{home} exported {count} log entries of CN-GX-DXGA ({size} bytes); verified offline "
            "against checkpoint size {tree}. Log key fingerprint: {fingerprint}"
        ).format(
            home="li",
            count=report.entries,
            size=len(data),
            tree=report.checkpoint_sizes[-1],
            fingerprint=report.log_key_fingerprint,
        )
    )
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01
    try:
        bundle_ops.verify_bundle(bytes(damaged))
    except bundle_ops.BundleError as exc:
        ctx.say(_("One byte changed: refused ({reason})").format(reason=exc))
    else:
        raise RuntimeError("a damaged bundle verified")
