"""Does a version reproduce itself? Its card's ``expect`` entries and the card copies in its graphs.

Kipoi's ``test.expect``, done in the artifact: the card lists reference sequences (with
structures for structure models, tracks for multimodal models) and the probabilities the model gave them at export time;
``check_expect`` re-encodes them with the card's alphabet, runs model.onnx in onnxruntime and
reports the largest difference. Runs without PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from seqzoo.zoo.alphabets import ProductAlphabet
from seqzoo.zoo.card import METADATA_KEY
from seqzoo.zoo.errors import InputError, IntegrityError
from seqzoo.zoo.graphs import GRAPHS, card_graphs, cpu_session
from seqzoo.zoo.inputs import Inputs, alphabet_from_dict

EXPECT_TOLERANCE = 1e-4


def expect_inputs(card: dict, where: str) -> tuple[list[str], list[str] | None, dict[str, list[str]] | None]:
    """The sequences, structures (structure models) and tracks (multimodal models: name -> strings)
    of the card's ``expect`` entries."""
    entries = card.get("expect") or []
    if not entries:
        raise IntegrityError(f"{where}: no expect entries to check")
    alphabet = card["input"]["alphabet"]
    structures = [e.get("structure", "") for e in entries] if "structure" in alphabet else None
    tracks = {t["name"]: [(e.get("tracks") or {}).get(t["name"], "") for e in entries]
              for t in alphabet.get("tracks") or []} or None
    return [e["sequence"] for e in entries], structures, tracks


def compare_expect(card: dict, got: np.ndarray, where: str, tolerance: float = EXPECT_TOLERANCE) -> float:
    """The largest abs difference between ``got`` [N, C] and the card's expected probabilities.

    The one rule for "a model reproduces its card", used by ``zoo verify`` / pull (on the CPU)
    and by the serving engine at load (on its own provider).

    Raises
    ------
    IntegrityError
        When any probability differs by more than ``tolerance`` (names the entry and class).
    """
    want = np.asarray([e["probs"] for e in card.get("expect") or []], dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        raise IntegrityError(f"{where}: gives probabilities of shape {got.shape} for the expect entries; the card "
                             f"records {want.shape}")
    err = np.abs(got - want)
    worst = float(err.max())
    if not worst <= tolerance:
        i, c = np.unravel_index(int(err.argmax()), err.shape)
        raise IntegrityError(f"{where}: the model does not reproduce its card's expected predictions: expect entry "
                             f"{i}, class {card['classes'][c]!r}: probability {got[i, c]:.6g}, the card expects "
                             f"{want[i, c]:.6g} (tolerance {tolerance:g})")
    return worst


def check_expect(folder: str | Path, card: dict, tolerance: float = EXPECT_TOLERANCE) -> float:
    """Re-run the card's ``expect`` entries through ``folder/model.onnx`` on the CPU; return the largest
    abs error (:func:`compare_expect` raises IntegrityError beyond ``tolerance``)."""
    folder = Path(folder)
    sequences, structures, tracks = expect_inputs(card, f"{folder}/card.json")
    alphabet = alphabet_from_dict(card["input"]["alphabet"])
    try:
        codes = alphabet.encode(sequences, structures or tracks) if isinstance(alphabet, (ProductAlphabet, Inputs)) \
            else alphabet.encode(sequences)
    except InputError as exc:
        raise IntegrityError(f"{folder}/card.json: expect entries do not encode with the card's alphabet: {exc}") \
            from None
    got = cpu_session(folder / "model.onnx").run(None, {"codes": codes})[0]
    return compare_expect(card, got, f"{folder}/model.onnx", tolerance)


def check_embedded_cards(folder: str | Path, card: dict) -> None:
    """Each graph's ``seqzoo.card`` metadata must be the same card as card.json (the optional
    graphs too, when the card lists them)."""
    import json

    folder = Path(folder)
    required = GRAPHS if card.get("task") != "language_model" else ("model.onnx",)
    for name in dict.fromkeys((*required, *card_graphs(card))):
        path = folder / name
        if not path.is_file():
            raise IntegrityError(f"{path}: graph missing")
        text = cpu_session(path).get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if text is None:
            raise IntegrityError(f"{path}: has no {METADATA_KEY} metadata")
        if json.loads(text) != card:
            raise IntegrityError(f"{path}: the card in its metadata differs from card.json")
