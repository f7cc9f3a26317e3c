"""Groups: the unit of a leakage-free split (the specimen), read from file names with a regex.

A frame's group is the first match of ``group_regex`` in its file name (group 1 when the regex has
one), or ``"default"``. The default regex ``Sample\\d+`` finds the FLYD specimen.
"""

from __future__ import annotations

import re

from benchbench.errors import UserError

DEFAULT_GROUP_REGEX = r"Sample\d+"


def group_of(name: str, regex: re.Pattern[str] | None) -> str:
    if regex is None:
        return "default"
    m = regex.search(name)
    if not m:
        return "default"
    return m.group(1) if m.groups() and m.group(1) else m.group(0)


def compile_group_regex(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UserError(f"invalid group regex {pattern!r} ({exc})", field="group_regex",
                        fix=r"use a Python regex such as 'Sample\d+'") from None
