"""The JSON Schemas of seqzoo's documents, shipped as package data in ``zoo/schema/``.

``card`` (a model card), ``manifest`` (a version's MANIFEST.json) and ``index`` (a static
registry's index.json). Every document read from a zoo or a registry is checked against its
schema before any of it is used, so a crafted file is refused with one line naming the file
and the field, never a traceback.
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


def check_document(document, kind: str, where: str, error: type = IntegrityError, what: str | None = None):
    """Return ``document`` if it satisfies ``kind``'s schema, else raise ``error`` naming ``where``
    and the first five violations."""
    errors = schema_errors(document, kind)
    if errors:
        shown = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        raise error(f"{where}: invalid {what or kind}: {shown}")
    return document
