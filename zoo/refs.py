"""Model names and references: ``name``, ``name:latest``, ``name:3``, ``name@sha256:<hex>``.

A name becomes a folder in the zoo and a key prefix in a remote registry, so it is checked
against a fixed character set before it touches a path: lower-case letters, digits, ``.``,
``_`` and ``-``, starting with a letter or digit, at most 64 characters, never ``..``. Nothing
with a slash, a backslash, a colon or a NUL can get through, so a malicious name can never
write outside the zoo. Versions are positive integers (no free-text versions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from seqzoo.zoo.errors import InputError, quote

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# ASCII digits only: str.isdigit() also takes '²' and '١', which int() then refuses or misreads
VERSION_PATTERN = re.compile(r"[1-9][0-9]{0,9}")
DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
MAX_VERSION = 10**9


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise InputError naming the problem.

    Parameters
    ----------
    name : str
        A model name such as ``pum2`` or ``foxo1-sim.v2``.
    """
    if not isinstance(name, str) or not name:
        raise InputError("model name is empty")
    if ".." in name:
        raise InputError(f"model name {quote(name)} contains '..'")
    bad = next((c for c in name if not re.fullmatch(r"[a-z0-9._-]", c)), None)
    if bad is not None:
        raise InputError(f"model name {quote(name)}: character {bad!r} at position {name.index(bad) + 1} is not "
                         "allowed (use lower-case letters, digits, '.', '_' and '-')")
    if not NAME_PATTERN.fullmatch(name):
        raise InputError(f"model name {quote(name)} must start with a letter or digit and be at most 64 characters")
    return name


def is_version(text: str) -> bool:
    """Whether ``text`` is a version as folders and refs spell it: ASCII digits, no leading zero,
    at most 10**9 (``"3"`` yes; ``"03"``, ``"²"``, ``"١"``, ``"../1"`` no)."""
    return isinstance(text, str) and VERSION_PATTERN.fullmatch(text) is not None and int(text) <= MAX_VERSION


def validate_version(version: int | str) -> int:
    """A version as a positive int (``"3"`` -> 3); raise InputError for anything else."""
    text = str(version)
    if not is_version(text):
        raise InputError(f"version {quote(text)} is not a positive integer (ASCII digits, no leading zero)")
    return int(text)


def validate_digest(digest: str) -> str:
    """``sha256:<64 lower-case hex>``; raise InputError for anything else."""
    if not isinstance(digest, str) or not DIGEST_PATTERN.fullmatch(digest):
        raise InputError(f"digest {quote(digest)} is not of the form sha256:<64 hex digits>")
    return digest


@dataclass(frozen=True)
class Ref:
    """A parsed reference: a name and at most one of version or digest (neither means latest)."""

    name: str
    version: int | None = None
    digest: str | None = None

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.version}" if self.version else f"{self.name}:latest"


def parse_ref(ref: str) -> Ref:
    """Parse ``name``, ``name:latest``, ``name:3`` or ``name@sha256:<hex>``.

    Parameters
    ----------
    ref : str

    Returns
    -------
    Ref
    """
    if not isinstance(ref, str) or not ref.strip():
        raise InputError("model reference is empty (use name, name:latest, name:3 or name@sha256:...)")
    ref = ref.strip()
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return Ref(validate_name(name), digest=validate_digest(digest))
    name, sep, tag = ref.partition(":")
    if not sep or tag == "latest":
        return Ref(validate_name(name))
    return Ref(validate_name(name), version=validate_version(tag))


def choose_version(ref: Ref, versions: Mapping[int, str | None], digest_of: Callable[[int], str],
                   missing: Callable[[str], Exception]) -> int:
    """The version number ``ref`` names among ``versions``: the one rule for every collection.

    The local zoo, a remote registry and a server's loaded versions all resolve refs here: a
    pinned number must exist; a pinned digest picks the newest version with that digest (known
    digests first, then the others newest first, asking ``digest_of``); otherwise the newest.

    Parameters
    ----------
    ref : Ref
    versions : mapping of int -> str or None
        The versions there are, with their digests where already known.
    digest_of : callable
        ``digest_of(version) -> "sha256:..."`` for a version whose digest is not known yet.
    missing : callable
        ``missing(kind) -> Exception`` with kind ``model``, ``version`` or ``digest``: the
        collection's own NotFoundError, saying what it does hold.
    """
    if not versions:
        raise missing("model")
    if ref.version is not None:
        if ref.version not in versions:
            raise missing("version")
        return ref.version
    if ref.digest:
        known = [v for v, d in versions.items() if d == ref.digest]
        if known:
            return max(known)
        for version in sorted((v for v, d in versions.items() if d is None), reverse=True):
            if digest_of(version) == ref.digest:
                return version
        raise missing("digest")
    return max(versions)
