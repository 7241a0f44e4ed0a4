"""The errors seqzoo raises for things a user can fix.

The CLI prints any of them as one line and exits non-zero; the gRPC server maps them to a
status code (InputError -> INVALID_ARGUMENT, NotFoundError -> NOT_FOUND, ...). Messages are
sentences that name the bad thing: file and line, sequence index, field, character.
"""


class SeqzooError(Exception):
    """Base class: a problem with the user's input, files or settings (never a bug)."""


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
