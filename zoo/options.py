"""``NAME=VALUE`` command-line options, read one way everywhere (``--track region=r.fa``,
``--track-source region=r.bed``, ``--class-description bound=...``)."""

from __future__ import annotations

from collections.abc import Iterable

from seqzoo.zoo.errors import InputError


def pairs(values: Iterable[str] | None, flag: str, value_name: str = "VALUE") -> dict[str, str]:
    """``NAME=VALUE`` strings -> ``{name: value}`` in the order given, both sides stripped.

    A string without ``=``, with an empty side, or naming a name already given is refused naming
    the flag (``--track 'x': expected NAME=FILE``).
    """
    out: dict[str, str] = {}
    for text in values or ():
        name, sep, value = text.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise InputError(f"{flag} {text!r}: expected NAME={value_name}")
        if name in out:
            raise InputError(f"{flag} {name!r} is given twice")
        out[name] = value
    return out
