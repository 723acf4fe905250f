"""Plain-text ``--help``: the docstrings the programs' help shows, without their reStructuredText markup."""

from __future__ import annotations

import functools
import re
from typing import Any

_ROLE = re.compile(r":[\w:.+-]+:`(~?)([^`<]*?)\s*(?:<[^`>]*>)?`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]+>`_{1,2}")


def plain_text(text: str) -> str:
    """``text`` without inline reST markup: literals and roles keep their text, ``:role:`~a.b.C``` keeps C."""

    def role(match: re.Match[str]) -> str:
        short, target = match.groups()
        return target.rsplit(".", 1)[-1] if short else target

    return _LINK.sub(r"\1", _LITERAL.sub(r"\1", _ROLE.sub(role, text)))


@functools.cache
def plain_help_formatter() -> type[Any]:
    """The help formatter of jsonargparse (types, defaults), showing docstrings through :func:`plain_text`.

    Built on first use, so that importing this module does not import jsonargparse (``sce --help`` stays fast).
    """
    from jsonargparse import DefaultHelpFormatter

    class PlainHelpFormatter(DefaultHelpFormatter):
        def _split_lines(self, text: str, width: int) -> list[str]:
            return super()._split_lines(plain_text(text), width)

        def _fill_text(self, text: str, width: int, indent: str) -> str:
            return super()._fill_text(plain_text(text), width, indent)

        def start_section(self, heading: str | None) -> None:
            super().start_section(plain_text(heading) if heading else heading)

    return PlainHelpFormatter
