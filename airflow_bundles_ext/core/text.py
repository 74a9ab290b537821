"""Text from untrusted input made safe to put in a message or a log line. Pure."""

from __future__ import annotations

MAX_SHOWN = 200
"""Characters of an untrusted value shown in a message; the rest is elided."""


def printable(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` with every control or format character escaped (``\\r`` -> ``\\x0d``), elided to ``limit``.

    A file name or object key can carry ``\\r``, ``\\n`` or an ANSI escape; escaped, it can
    neither forge a log line nor rewrite a terminal.
    """
    if len(text) > limit:
        text = text[:limit] + f"...(+{len(text) - limit} chars)"
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def short_repr(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` made printable and elided: for values quoted back in an error message."""
    return printable(repr(value), limit)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
