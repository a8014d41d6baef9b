"""`liaison notice`: list notice types, print fillable templates, check and render notice files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liaison.cli._common import CommandError, notice_refusals
from liaison.i18n import LANGUAGE_ALIASES, _, current_language, gettext_for
from liaison.i18n.errors import os_error_reason

if TYPE_CHECKING:
    from liaison.domain.fields import Field
    from liaison.domain.notices import Notice


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("notice", help=_("Notice types, templates and checks"))
    commands = parser.add_subparsers(dest="notice_command", metavar="COMMAND", required=True)

    types = commands.add_parser("types", help=_("List the notice types"))
    types.add_argument("--json", action="store_true", help=_("Print JSON"))
    types.set_defaults(func=run_types)

    template = commands.add_parser("template", help=_("Print a fillable JSON notice template"))
    template.add_argument("type", metavar="TYPE", help=_("Notice type (see: liaison notice types)"))
    template.add_argument(
        "--lang", choices=("vi", "zh", "en"), help=_("Language of the help lines")
    )
    template.set_defaults(func=run_template)

    check = commands.add_parser("check", help=_("Check a notice file without sending it"))
    check.add_argument("file", type=Path, metavar="FILE", help=_("Notice JSON file"))
    add_attach_option(check)
    check.set_defaults(func=run_check)

    render = commands.add_parser("render", help=_("Show a notice file in one or both languages"))
    render.add_argument("file", type=Path, metavar="FILE", help=_("Notice JSON file"))
    render.add_argument(
        "--lang",
        default="both",
        choices=("vi", "zh", "en", "both"),
        help=_("Language of the rendering"),
    )
    render.add_argument("--html", type=Path, metavar="OUT", help=_("Write printable HTML here"))
    add_attach_option(render)
    render.set_defaults(func=run_render)


def add_attach_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file",
        dest="attach",
        metavar="F",
        type=Path,
        action="append",
        default=[],
        help=_(
            "A file the notice will be sent with (liaison send --notice … --file F); repeat in "
            "the same order: the notice's attachment indexes count them from 0"
        ),
    )


def _attached(args: argparse.Namespace) -> list[dict[str, Any]]:
    from liaison.client.attachments import describe_file
    from liaison.client.errors import ClientError

    described = []
    for path in args.attach:
        try:
            described.append(describe_file(path))
        except ClientError as exc:
            raise CommandError(str(exc), code=exc.code) from None
        except OSError as exc:
            raise CommandError(
                _("Cannot read {path}: {reason}").format(path=path, reason=os_error_reason(exc)),
                code="unreadable",
            ) from None
    return described


def run_types(args: argparse.Namespace) -> int:
    from liaison.domain.notices import CATALOGUE

    if args.json:
        listing = [
            {
                "type": spec.code,
                "label": _(spec.label),
                "description": _(spec.description),
                "fields": [
                    {"name": f.name, "kind": f.kind.name, "required": f.required}
                    for f in spec.fields
                ],
            }
            for spec in CATALOGUE.values()
        ]
        print(json.dumps(listing, ensure_ascii=False, indent=2))
        return 0
    width = max(len(code) for code in CATALOGUE)
    for spec in CATALOGUE.values():
        print(f"{spec.code:<{width}}  {_(spec.label)} — {_(spec.description)}")
    return 0


def template_for(notice_type: str, language: str) -> dict[str, Any]:
    """A fillable skeleton of `notice_type`: optional fields null, help lines under `_help`."""
    from liaison.domain.fields import OPTIONAL_MARK, Block, ListOf
    from liaison.domain.notices import CATALOGUE, FORMAT_VERSION, HEADER_FIELDS

    if notice_type not in CATALOGUE:
        raise CommandError(
            _("Unknown notice type {type}; see: liaison notice types").format(type=notice_type),
            code="unknown_type",
        )
    helps: dict[str, str] = {}

    def skeleton(spec: tuple[Field, ...], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in spec:
            where = f"{path}.{f.name}"
            text = gettext_for(language, f.help)
            if not f.required:
                text = f"[{gettext_for(language, OPTIONAL_MARK)}] {text}"
            helps[where] = text
            kind = f.kind
            if isinstance(kind, ListOf) and isinstance(kind.item, Block):
                value: Any = [skeleton(kind.item.fields, f"{where}[]")]
            elif isinstance(kind, Block):
                value = skeleton(kind.fields, where)
            else:
                value = kind.skeleton()
            out[f.name] = value if f.required else None
        return out

    header = skeleton(HEADER_FIELDS, "header")
    fields = skeleton(CATALOGUE[notice_type].fields, "fields")
    return {
        "liaison_notice": FORMAT_VERSION,
        "type": notice_type,
        "header": header,
        "fields": fields,
        "_help": helps,
    }


def run_template(args: argparse.Namespace) -> int:
    language = LANGUAGE_ALIASES.get(args.lang or "", current_language())
    print(json.dumps(template_for(args.type, language), ensure_ascii=False, indent=2))
    return 0


def _load(path: Path, attachments: int) -> Notice:
    from liaison.domain.notices import parse_notice

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(
            _("Cannot read {path}: {reason}").format(path=path, reason=os_error_reason(exc)),
            code="unreadable",
        ) from None
    with notice_refusals():
        notice = parse_notice(data, attachments=attachments)
    return notice


def run_check(args: argparse.Namespace) -> int:
    notice = _load(args.file, len(_attached(args)))
    print(_("The notice is valid: {type}").format(type=_(notice.spec().label)))
    return 0


def run_render(args: argparse.Namespace) -> int:
    from liaison.i18n.render import render_html, render_text

    attached = _attached(args)
    notice = _load(args.file, len(attached))
    meta = {"attachments": attached}
    if args.html:
        args.html.write_text(render_html(notice, args.lang, message_meta=meta), encoding="utf-8")
        print(_("Written: {path}").format(path=args.html), file=sys.stderr)
    else:
        sys.stdout.write(render_text(notice, args.lang, message_meta=meta))
    return 0
