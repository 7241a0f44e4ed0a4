"""The model card: one JSON document per version, checked against a versioned JSON Schema.

The schema lives in ``zoo/schema/card.schema.json`` (``schema_version`` 1). The same card is
written as ``card.json`` beside the graphs and stored in each ONNX file's metadata under the key
``seqzoo.card`` (readable with onnxruntime alone). The version's digest is not in the card: the
card is one of the files the digest covers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from seqzoo.zoo import schemas
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.io.atomic import write_text

SCHEMA_VERSION = 1
CARD_FILE = "card.json"
METADATA_KEY = "seqzoo.card"


def load_schema() -> dict:
    """The card's JSON Schema (a dict), shipped as package data."""
    return schemas.load_schema("card")


def card_errors(card: dict) -> list[str]:
    """Every schema violation of ``card``, each as ``field.path: message`` (empty when valid)."""
    return schemas.schema_errors(card, "card")


def validate_card(card: dict, where: str = "card") -> dict:
    """Return ``card`` if it satisfies the schema, else raise InputError listing the bad fields.

    Parameters
    ----------
    card : dict
    where : str
        Names the card's source (a file path) in the error.
    """
    if not isinstance(card, dict):
        raise InputError(f"{where}: a card must be a JSON object, got {type(card).__name__}")
    if card.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"{where}: schema_version {card.get('schema_version')!r} is not supported "
                         f"(this seqzoo reads {SCHEMA_VERSION})")
    return schemas.check_document(card, "card", where, InputError, "model card")


def card_text(card: dict) -> str:
    """The canonical JSON text of a card (the bytes of card.json and of the ONNX metadata)."""
    return json.dumps(card, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def read_card(path: str | os.PathLike, validate: bool = True) -> dict:
    """Read ``card.json`` (a file, or a version folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no model card here") from None
    card = schemas.parse_document(data, None, str(path), "card", error=InputError)
    return validate_card(card, str(path)) if validate else card


def write_card(card: dict, path: str | os.PathLike, validate: bool = True) -> Path:
    """Write ``card`` to ``path`` atomically (temporary name in the same folder, then os.replace)."""
    if validate:
        validate_card(card, str(path))
    return write_text(path, card_text(card))


def onnx_card(model_path: str | os.PathLike) -> dict | None:
    """The card stored in an ONNX file's metadata (read with onnxruntime; no torch, no onnx)."""
    from seqzoo.zoo.graphs import cpu_session

    text = cpu_session(model_path, optimize=False).get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return None if text is None else schemas.parse_document(text, None, f"{model_path} ({METADATA_KEY})", "card")


def input_section(alphabet, length: int, structure: str | None, length_dynamic: bool = False,
                  min_length: int | None = None) -> dict:
    """The card's ``input``: alphabet, length and its policy, the unknown rule, and the structure
    predictor (with its version) of structure models, and a multimodal model's ``tracks`` (each
    input after the sequence: name, letters, length, offset in the packed codes, IG baseline,
    source). The one place it is built (run card and published card alike)."""
    sequence = getattr(alphabet, "sequence", alphabet)  # product alphabet or packed inputs: the sequence part
    section = {
        "alphabet": alphabet.to_dict(),
        "length": int(length),
        "length_dynamic": bool(length_dynamic),
        "length_policy": (f"any length{f' from {min_length}' if min_length else ''}; the card's length is the "
                          "trained one" if length_dynamic else f"exactly {length}: centre, pad with N or crop"),
        "unknown": sequence.unknown,
        "structure": None,
    }
    if min_length is not None:
        section["min_length"] = int(min_length)
    tracks = getattr(alphabet, "tracks", ())
    if tracks:
        section["tracks"] = [{"name": t.name, "letters": t.alphabet.letters, "length": t.length, "offset": r0,
                              "baseline": t.baseline, "source": t.source}
                             for t, (r0, _, _, _) in zip(tracks, alphabet.slices[1:])]
        if any(t.source == "structure" for t in tracks):
            structure = "annotated"
    if structure:
        from seqzoo.zoo.structure import vienna_version

        section["structure"] = {"form": structure, "predictor": "ViennaRNA", "version": vienna_version()}
    return section


ABOUT_FIELDS = ("license", "citation", "authors", "tags", "species", "assembly", "class_descriptions", "dataset",
                "recipe", "positive_class")
# class names that say "not the thing": a binary model whose other class is not one of these has a
# positive class a reader can name without asking (bound vs unbound, a motif vs background)
NEGATIVE_NAMES = {"unbound", "background", "negative", "neg", "control", "shuffled", "random", "other", "others",
                  "none", "decoy", "nonbinding", "non-binding", "non_binding", "notbound", "not_bound", "absent",
                  "inactive", "off", "no", "null", "genomic", "flank", "flanks"}


def positive_class(card: dict) -> str | None:
    """The class a score, an attribution and a track are about when none is named.

    The card's ``positive_class`` when it has the field (set by ``seqzoo train --positive-class`` or
    a recipe; ``null`` means the publisher stated that there is none). Older cards: inferred only
    where unambiguous - a binary model whose other class is a negative name (``unbound``,
    ``background``, ...) or whose test set holds fewer of it (the sites of a 1:4 set), a language
    model's ``log_likelihood``; else None.
    The last class is never assumed: pysster's sets list ``bound`` before ``unbound``."""
    classes = list(card.get("classes") or [])
    if "positive_class" in card:
        stated = card["positive_class"]
        return stated if stated in classes else None
    if card.get("task") == "language_model":  # what its variant scores (llr) and ISM maps are about
        return "log_likelihood" if "log_likelihood" in classes else None
    if card.get("task") != "binary" or len(classes) != 2:
        return None
    negative = [c for c in classes if c.lower() in NEGATIVE_NAMES]
    if len(negative) == 1:
        return next(c for c in classes if c not in negative)
    counts = ((card.get("training") or {}).get("counts") or {}).get("test") or {}
    if negative or counts.get(classes[0]) == counts.get(classes[1]):
        return None
    return min(classes, key=lambda c: counts.get(c, 0))


def default_class(card: dict, ref: str, flag: str) -> str:
    """The class used when the caller names none: the positive class, or a one-class model's only
    class; otherwise InputError asking for ``flag`` with the classes to choose from."""
    classes = list(card.get("classes") or [])
    positive = positive_class(card)
    if positive is not None:
        return positive
    if len(classes) == 1:
        return classes[0]
    shown = ", ".join(classes[:12]) + (f", ... ({len(classes)} in all)" if len(classes) > 12 else "")
    raise InputError(f"{ref} has no positive class in its card; name the class with {flag} ({shown})")


def about_section(about: dict | None, classes: list[str], where: str = "model metadata") -> dict:
    """The card's descriptive fields from what the publisher stated (``seqzoo train --licence ...``
    or a catalogue recipe): licence and citation (None when not stated: never a default), authors,
    tags, species, assembly, a description per class, the dataset's source and the recipe that
    built the model. An unknown field, or a description of a class the model does not have, is
    refused naming it."""
    about = dict(about or {})
    unknown = sorted(set(about) - set(ABOUT_FIELDS))
    if unknown:
        raise InputError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(ABOUT_FIELDS)})")
    positive = about.get("positive_class")
    if positive is not None and positive not in classes:
        raise InputError(f"{where}: positive class {positive!r} is not a class of the model "
                         f"(classes: {', '.join(classes)})")
    described = dict(about.get("class_descriptions") or {})
    for name in described:
        if name not in classes:
            raise InputError(f"{where}: a description of class {name!r}, which the model does not have "
                             f"(classes: {', '.join(classes)})")
    stated = {"positive_class": positive} if positive is not None else {}
    return {**stated, "license": about.get("license") or None, "citation": about.get("citation") or None,
            "authors": list(about.get("authors") or []), "tags": list(dict.fromkeys(about.get("tags") or [])),
            "species": about.get("species"), "assembly": about.get("assembly"), "class_descriptions": described,
            "dataset": about.get("dataset"), "recipe": about.get("recipe")}
