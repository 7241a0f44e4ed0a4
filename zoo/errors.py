"""The errors seqzoo raises for things a user can fix, and where they happened.

The CLI prints any of them as one line and exits non-zero; the gRPC server maps them to a
status code (InputError -> INVALID_ARGUMENT, NotFoundError -> NOT_FOUND, ...). Messages are
sentences that name the bad thing: file and line, record, sequence index, field, character.

An error carries its place as attributes (``file``, ``line``, ``offset``, ``record``,
``index``, ``field``) beside its ``reason``, and the message is made from them. Code that knows
more about the place (the scoring loop knows which file line a batch's sequence 3 came from)
adds it with :meth:`SeqzooError.at`; nothing ever parses a message back.
"""

from __future__ import annotations

import copy

# the order places are written in: file:line, then byte offset, record, index, field
PLACES = ("file", "line", "offset", "record", "index", "field")
# the gRPC trailing-metadata key a server sends an error's place under (see place_json)
PLACE_KEY = "seqzoo-error-place"


class SeqzooError(Exception):
    """Base class: a problem with the user's input, files or settings (never a bug).

    Parameters
    ----------
    reason : str
        What is wrong, e.g. ``character 'X' at position 3 is not in the rna alphabet ACGU``.
    file, line, offset : optional
        The input file, the 1-based line, or the byte offset where the bad thing starts.
    record : str, optional
        The record's name (a FASTA id, a VCF variant).
    index : int, optional
        The 0-based position of the bad item in what the caller passed (a batch, a table).
    noun : str
        What ``index`` counts, as the message says it: ``sequence`` (default), ``row``, ...
    field : str, optional
        A field, column or option name.
    """

    def __init__(self, reason: str = "", *, file=None, line: int | None = None, offset: int | None = None,
                 record: str | None = None, index: int | None = None, noun: str = "sequence",
                 field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.file, self.line, self.offset = file, line, offset
        self.record, self.index, self.noun, self.field = record, index, noun, field

    def where(self) -> dict:
        """The place attributes that are set, as a plain dict (``noun`` with ``index`` only)."""
        place = {k: getattr(self, k) for k in PLACES if getattr(self, k) is not None}
        if self.index is not None:
            place["noun"] = self.noun
        return place

    def at(self, **place) -> SeqzooError:
        """A copy of this error with ``place`` added (``file=``, ``line=``, ``record=``, ``index=``, ...)."""
        error = copy.copy(self)
        for key, value in place.items():
            if key not in (*PLACES, "noun"):
                raise TypeError(f"not a place: {key}")
            setattr(error, key, value)
        error.args = (str(error),)
        return error

    def __str__(self) -> str:
        head = ""
        if self.file is not None:
            head = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
            if self.offset is not None:
                head += f"byte {self.offset}: "
        subject = (f"record {self.record}" if self.record is not None
                   else f"{self.noun} {self.index}" if self.index is not None else "")
        if self.field is not None:
            subject = f"{subject}, field {self.field}" if subject else f"field {self.field}"
        if not subject:
            return head + self.reason
        # "sequence 1 is 3 long" reads on; "sequence 1: character 'X' ..." is a statement about it
        joint = " " if self.reason.startswith("is ") else ": "
        return f"{head}{subject}{joint}{self.reason}"

    def __reduce__(self):  # keep the place across processes (Dask workers)
        return _rebuild, (type(self), self.reason, self.where())


def _rebuild(cls, reason: str, place: dict) -> SeqzooError:
    return cls(reason, **place)


def quote(text, limit: int = 80) -> str:
    """Someone else's string as a message quotes it: its repr, cut to ``limit`` characters (a 100 kB
    model name must not come back whole in an error, a log line or a gRPC status)."""
    text = str(text)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


class InputError(SeqzooError, ValueError):
    """Bad input data or arguments: a file, a sequence, a field, an option."""


class NotFoundError(SeqzooError, LookupError):
    """A model, version, file or contig that does not exist."""


class IntegrityError(SeqzooError):
    """An artifact whose bytes do not match its recorded digest or size."""


class ConflictError(SeqzooError):
    """A write that would change something immutable (a published version) or lost a race."""


class UnavailableError(SeqzooError):
    """A registry or server that does not answer in time."""


def place_json(error: BaseException) -> str:
    """The reason and place of a seqzoo error as JSON ("" when it has no place): what a server
    sends beside the message so the client can name its own record."""
    if not isinstance(error, SeqzooError) or not error.where():
        return ""
    import json

    return json.dumps({"reason": error.reason, **error.where()}, default=str)


def from_place(cls: type[SeqzooError], place: str) -> SeqzooError:
    """The error ``place_json`` described, as ``cls``."""
    import json

    fields = json.loads(place)
    return cls(fields.pop("reason", ""), **{k: v for k, v in fields.items() if k in (*PLACES, "noun")})
