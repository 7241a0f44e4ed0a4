"""Does a version reproduce itself? Its card's ``expect`` entries and the card copies in its graphs.

Kipoi's ``test.expect``, done in the artifact: the card lists reference sequences (with
structures for structure models) and the probabilities the model gave them at export time;
``check_expect`` re-encodes them with the card's alphabet, runs model.onnx in onnxruntime and
reports the largest difference. Runs without PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from seqzoo.zoo.alphabets import ProductAlphabet, alphabet_from_dict
from seqzoo.zoo.card import METADATA_KEY
from seqzoo.zoo.errors import InputError, IntegrityError

EXPECT_TOLERANCE = 1e-4
GRAPHS = ("model.onnx", "grad.onnx", "ig.onnx")


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_expect(folder: str | Path, card: dict, tolerance: float = EXPECT_TOLERANCE) -> float:
    """Re-run the card's ``expect`` entries through ``folder/model.onnx``; return the largest abs error.

    Raises
    ------
    IntegrityError
        When any probability differs by more than ``tolerance`` (names the entry and class).
    """
    folder = Path(folder)
    entries = card.get("expect") or []
    if not entries:
        raise IntegrityError(f"{folder}/card.json: no expect entries to check")
    alphabet = alphabet_from_dict(card["input"]["alphabet"])
    sequences = [e["sequence"] for e in entries]
    try:
        if isinstance(alphabet, ProductAlphabet):
            codes = alphabet.encode(sequences, [e.get("structure", "") for e in entries])
        else:
            codes = alphabet.encode(sequences)
    except InputError as exc:
        raise IntegrityError(f"{folder}/card.json: expect entries do not encode with the card's alphabet: {exc}") \
            from None
    want = np.asarray([e["probs"] for e in entries], dtype=np.float64)
    got = _session(folder / "model.onnx").run(None, {"codes": codes})[0].astype(np.float64)
    if got.shape != want.shape:
        raise IntegrityError(f"{folder}/model.onnx: gives probabilities of shape {got.shape} for the expect "
                             f"entries; the card records {want.shape}")
    err = np.abs(got - want)
    worst = float(err.max())
    if not worst <= tolerance:
        i, c = np.unravel_index(int(err.argmax()), err.shape)
        raise IntegrityError(f"{folder}/model.onnx: expect entry {i}, class {card['classes'][c]!r}: probability "
                             f"{got[i, c]:.6g}, the card expects {want[i, c]:.6g} (tolerance {tolerance:g})")
    return worst


def check_embedded_cards(folder: str | Path, card: dict) -> None:
    """Each graph's ``seqzoo.card`` metadata must be the same card as card.json."""
    import json

    folder = Path(folder)
    for name in GRAPHS:
        path = folder / name
        if not path.is_file():
            raise IntegrityError(f"{path}: graph missing")
        text = _session(path).get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if text is None:
            raise IntegrityError(f"{path}: has no {METADATA_KEY} metadata")
        if json.loads(text) != card:
            raise IntegrityError(f"{path}: the card in its metadata differs from card.json")
