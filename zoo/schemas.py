"""The JSON Schemas of seqzoo's documents, shipped as package data in ``zoo/schema/``, and the one
way such a document is read.

``card`` (a model card), ``manifest`` (a version's MANIFEST.json), ``index`` (a static registry's
index.json), ``deprecations`` (a registry's deprecations.json) and ``recipe``. Every document read
from a zoo or a registry goes through :func:`parse_document`: at most ``MAX_DOCUMENT_BYTES``,
nested at most ``MAX_DEPTH`` deep, then checked against its schema before any of it is used, so a
crafted file is refused with one line naming the file and the field, never a traceback.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from seqzoo.zoo.errors import IntegrityError


@cache
def load_schema(kind: str) -> dict:
    """The JSON Schema of ``kind`` (``card``, ``manifest`` or ``index``) as a dict."""
    return json.loads(resources.files("seqzoo.zoo").joinpath(f"schema/{kind}.schema.json").read_text())


@cache
def _validator(kind: str):
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema(kind), format_checker=jsonschema.FormatChecker())


def _shown(text: str, limit: int = 160) -> str:
    """``text`` as one printable line of at most ``limit`` characters (crafted keys and values
    end up in messages: no newline or control character of theirs reaches a terminal or log)."""
    text = str(text)
    if not text.isprintable():
        text = json.dumps(text)[1:-1]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def schema_errors(document, kind: str) -> list[str]:
    """Every violation of ``kind``'s schema, each as ``field.path: message`` (empty when valid)."""
    errors = sorted(_validator(kind).iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(_shown(p, 40) for p in e.absolute_path) or '(top)'}: {_shown(e.message)}" for e in errors]


MAX_DOCUMENT_BYTES = 16 * 2**20  # the shipped registry's index.json is 56 kB, a card about 60 kB
MAX_DEPTH = 32  # a card nests 6 deep; 100,000 brackets made the parser's recursion fail


def _depth(document) -> int:
    """How deeply lists and objects nest in a parsed document (iterative: no recursion to overflow)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def parse_document(data: bytes | str, kind: str | None, where: str, what: str | None = None,
                   error: type = IntegrityError):
    """The JSON document of ``data`` read from ``where``: refused (``error`` naming ``where``) when it is
    over ``MAX_DOCUMENT_BYTES``, not JSON, nested deeper than ``MAX_DEPTH`` or, with ``kind``, not
    valid against that schema."""
    what = what or kind or "document"
    if len(data) > MAX_DOCUMENT_BYTES:
        raise error(f"{where}: the {what} is over {MAX_DOCUMENT_BYTES // 2**20} MiB, larger than any seqzoo writes")
    try:
        document = json.loads(data)
    except RecursionError:
        raise error(f"{where}: the {what} is nested deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"{where}: the {what} is not JSON ({_shown(str(exc), 80)})") from None
    if _depth(document) > MAX_DEPTH:
        raise error(f"{where}: the {what} is nested deeper than {MAX_DEPTH} levels")
    return document if kind is None else check_document(document, kind, where, error, what)


def check_document(document, kind: str, where: str, error: type = IntegrityError, what: str | None = None):
    """Return ``document`` if it satisfies ``kind``'s schema, else raise ``error`` naming ``where``
    and the first five violations."""
    errors = schema_errors(document, kind)
    if errors:
        shown = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        raise error(f"{where}: invalid {what or kind}: {shown}")
    return document
