"""The model card: schema, validation errors that name the field, the ONNX copies, expect."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from seqzoo.zoo.card import (
    SCHEMA_VERSION,
    card_errors,
    load_schema,
    onnx_card,
    read_card,
    validate_card,
    write_card,
)
from seqzoo.zoo.errors import InputError, IntegrityError
from seqzoo.zoo.expect import check_embedded_cards, check_expect


def test_schema_is_versioned_and_the_published_card_is_valid(published_model):
    schema = load_schema()
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    card = published_model.card
    assert card_errors(card) == []
    assert card["name"] == "pum2" and card["version"] == published_model.version == 1
    assert card["task"] == "binary" and card["classes"] == ["negative", "positive"]
    assert card["input"]["alphabet"]["letters"] == "ACGU" and card["input"]["length"] == 200
    assert card["input"]["length_dynamic"] is False  # the fixture's flatten head
    assert card["output"] == {"activation": "softmax", "name": "probs"}
    assert set(card["graphs"]) == {"model.onnx", "grad.onnx", "ig.onnx", "track.onnx"}
    assert card["graphs"]["track.onnx"]["window"] == 200 and card["parity"]["track"] <= 1e-5
    assert card["graphs"]["grad.onnx"]["outputs"][1] == {"name": "grad", "dtype": "float32", "shape": ["N", 200, 4]}
    assert 0 <= card["parity"]["forward"] <= 1e-5 and 0 <= card["parity"]["gradient"] <= 1e-5
    assert 0 <= card["parity"]["ig"] <= 1e-3
    assert len(card["expect"]) == 4 and all(len(e["sequence"]) == 200 for e in card["expect"])
    assert all(abs(sum(e["probs"]) - 1) < 1e-5 for e in card["expect"])
    assert card["provenance"]["torch"].startswith("2.") and card["provenance"]["python"].count(".") == 2
    assert card["training"]["counts"]["train"] == {"negative": 300, "positive": 300}
    assert 0.5 < card["metrics"]["test"]["auroc"]["positive"] <= 1.0


@pytest.mark.parametrize("path, value, field", [
    (("task",), "regression", "task"),
    (("input", "length"), 0, "input.length"),
    (("input", "unknown"), "random", "input.unknown"),
    (("output", "activation"), "relu", "output.activation"),
    (("parity", "ig"), -1.0, "parity.ig"),
    (("expect",), [], "expect"),
    (("name",), "../evil", "name"),
    (("created",), "yesterday", "created"),
])
def test_invalid_fields_are_named(published_model, path, value, field):
    card = copy.deepcopy(published_model.card)
    target = card
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InputError, match=rf"card\.json: invalid model card: {field}"):
        validate_card(card, "card.json")


def test_missing_field_and_wrong_schema_version(published_model):
    card = copy.deepcopy(published_model.card)
    del card["provenance"]
    with pytest.raises(InputError, match="'provenance' is a required property"):
        validate_card(card)
    card = {**published_model.card, "schema_version": 2}
    with pytest.raises(InputError, match="schema_version 2 is not supported"):
        validate_card(card)


def test_card_json_and_every_graph_carry_the_same_card(published_model):
    on_disk = json.loads((published_model.path / "card.json").read_text())
    assert on_disk == published_model.card
    for graph in ("model.onnx", "grad.onnx", "ig.onnx", "track.onnx"):
        assert onnx_card(published_model.path / graph) == on_disk
    check_embedded_cards(published_model.path, on_disk)


def test_write_card_is_atomic_and_validates(published_model, tmp_path):
    target = write_card(published_model.card, tmp_path / "card.json")
    assert read_card(target) == published_model.card
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json"]  # no temporary left behind
    bad = {**published_model.card, "classes": []}
    with pytest.raises(InputError, match="classes"):
        write_card(bad, tmp_path / "card.json")
    assert read_card(target) == published_model.card  # the refused write changed nothing


def test_expect_reproduces_and_catches_a_changed_expectation(published_model, tmp_path):
    assert check_expect(published_model.path, published_model.card) <= 1e-4
    card = copy.deepcopy(published_model.card)
    card["expect"][2]["probs"][1] += 0.01
    with pytest.raises(IntegrityError, match=r"expect entry 2, class 'positive'"):
        check_expect(published_model.path, card)


def test_a_graph_with_another_card_is_caught(published_model, tmp_path):
    folder = tmp_path / "v"
    shutil.copytree(published_model.path, folder)
    card = {**published_model.card, "description": "something else"}
    with pytest.raises(IntegrityError, match="model.onnx: the card in its metadata differs from card.json"):
        check_embedded_cards(folder, card)
