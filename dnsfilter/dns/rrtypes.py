"""Record types by name, for people: "A", "AAAA", "HTTPS", "TYPE65534"."""

from __future__ import annotations

from dnslib import QTYPE


def type_name(qtype: int) -> str:
    name = QTYPE.forward.get(qtype)
    return name if isinstance(name, str) else f"TYPE{qtype}"


def type_number(text: str) -> int | None:
    """A record type by name (A, AAAA, HTTPS...) or as TYPE65; None when it is not one."""
    cleaned = text.strip().upper()
    number = QTYPE.reverse.get(cleaned)
    if isinstance(number, int):
        return number
    digits = cleaned.removeprefix("TYPE")
    if digits.isdigit() and 0 < int(digits) < 65536:
        return int(digits)
    return None
