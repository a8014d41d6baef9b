"""The officer's language on the desk: chosen on any page, remembered in a cookie."""

from __future__ import annotations

from aiohttp import web

from liaison.i18n import gettext_for

LANGUAGE_COOKIE = "liaison_desk_lang"
# What the switch offers (its own name in each language) and the catalogue locale behind it.
DESK_LANGUAGES = {"vi": "Tiếng Việt", "zh": "中文", "en": "English"}
CATALOGUE_LOCALE = {"vi": "vi", "zh": "zh_Hans_CN", "en": "en"}
# BCP 47 tags for `lang` attributes, so that browsers pick Vietnamese or CJK glyphs.
HTML_LANG = {"vi": "vi", "zh": "zh-Hans-CN", "en": "en", "zh_Hans_CN": "zh-Hans-CN"}


def request_language(request: web.Request, default: str = "vi") -> str:
    value = request.cookies.get(LANGUAGE_COOKIE, "")
    return value if value in DESK_LANGUAGES else default


def translate(language: str, message: str) -> str:
    return gettext_for(CATALOGUE_LOCALE.get(language, language), message)
