"""Patterns of a tenancy policy: path globs with named placeholders. Pure functions.

Syntax, the same in every pattern of a policy file::

    *          any characters except '/'
    **         any characters, '/' included
    ?          one character except '/'
    {project}  a placeholder: in a ``files`` pattern it captures a value (letters, digits,
               '.', '_', '-', starting with a letter or digit); anywhere else it is replaced
               by the value captured from the file's name. ``{name}`` is always the bundle name.

Everything else matches itself. A captured value is a safe path segment (no '/', no '..'),
so ``etls/{project}/**`` can never be widened by a file name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from airflow_bundles_ext.errors import PatternError

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_VALUE = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_GLOB = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
_TOKENS = re.compile(r"\*\*|\*|\?|\{[A-Za-z_][A-Za-z0-9_]*\}")


def placeholders(pattern: str) -> frozenset[str]:
    return frozenset(PLACEHOLDER.findall(pattern))


@lru_cache(maxsize=1024)
def _compile(pattern: str, capture: bool) -> re.Pattern[str]:
    out: list[str] = []
    seen: set[str] = set()
    pos = 0
    for match in _TOKENS.finditer(pattern):
        out.append(re.escape(pattern[pos : match.start()]))
        part = match.group(0)
        if part in _GLOB:
            out.append(_GLOB[part])
        elif capture:
            name = part[1:-1]
            out.append(f"(?P={name})" if name in seen else f"(?P<{name}>{_VALUE})")
            seen.add(name)
        else:
            raise PatternError(f"placeholder {part} has no value in pattern {pattern!r}")
        pos = match.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out), re.DOTALL)


def capture(pattern: str, text: str) -> dict[str, str] | None:
    """The placeholder values if ``text`` matches ``pattern`` whole, else ``None``."""
    match = _compile(pattern, True).fullmatch(text)
    return None if match is None else {k: v for k, v in match.groupdict().items() if v is not None}


def expand(pattern: str, values: Mapping[str, str]) -> str:
    """``pattern`` with every ``{placeholder}`` replaced; :class:`PatternError` if one has no value."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise PatternError(f"placeholder {{{name}}} has no value in pattern {pattern!r}")
        return values[name]

    return PLACEHOLDER.sub(value, pattern)


def matches(pattern: str, text: str, values: Mapping[str, str], *, under: bool = False) -> bool:
    """Whether ``text`` matches ``pattern`` after expanding its placeholders.

    With ``under`` the text may also lie below the pattern (``a/b`` grants ``a/b/c``), which is
    how S3 prefixes and local path roots are granted.
    """
    regex = _compile(expand(pattern, values), False)
    if regex.fullmatch(text):
        return True
    if not under:
        return False
    return any(regex.fullmatch(text[:cut]) for cut in _slash_positions(text))


def _slash_positions(text: str) -> list[int]:
    return [i for i, ch in enumerate(text) if ch == "/"]
