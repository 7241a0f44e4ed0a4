"""Errors carry their place as attributes; the message is made from them, and survives pickling
(Dask workers) and the wire (gRPC) without ever being parsed back."""

from __future__ import annotations

import pickle

import pytest
from seqzoo.serving.scoring import Row, locate
from seqzoo.zoo.errors import InputError, NotFoundError, SeqzooError, from_place, place_json
from seqzoo.zoo.io.fasta import FastaRecord


def test_messages_are_made_from_the_place():
    reason = "character 'X' at position 3 is not in the rna alphabet ACGU"
    assert str(InputError(reason)) == reason
    assert str(InputError(reason, index=2)) == f"sequence 2: {reason}"
    assert str(InputError(reason, index=2, noun="row")) == f"row 2: {reason}"
    assert str(InputError("is 3 long but model m:1 takes 5", index=1)) == "sequence 1 is 3 long but model m:1 takes 5"
    assert str(InputError(reason, file="a.fa", line=7, record="r1")) == f"a.fa:7: record r1: {reason}"
    assert str(InputError(reason, file="a.fa", offset=1200)) == f"a.fa: byte 1200: {reason}"
    assert str(InputError("must be positive", field="--stride")) == "field --stride: must be positive"


def test_at_places_a_copy_and_keeps_the_type():
    error = InputError("bad", index=1)
    placed = error.at(index=None, file="x.fa", line=3, record="oops")
    assert isinstance(placed, InputError) and str(placed) == "x.fa:3: record oops: bad"
    assert str(error) == "sequence 1: bad" and error.record is None  # the original is unchanged
    assert placed.args == (str(placed),)
    with pytest.raises(TypeError, match="not a place"):
        error.at(colour="red")


def test_place_survives_pickling_and_the_wire():
    error = NotFoundError("contig 'chrZ' is not in g.fa", file="r.bed", line=4)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is NotFoundError and str(again) == str(error) and again.line == 4
    wire = place_json(InputError("bad", index=5))
    back = from_place(InputError, wire)
    assert back.index == 5 and back.reason == "bad" and str(back) == "sequence 5: bad"
    assert place_json(InputError("no place")) == "" and place_json(ValueError("x")) == ""


def test_locate_names_the_record_of_a_batch():
    batch = [FastaRecord("a one", "ACGU", None, "in.fa", 1), FastaRecord("b two", "ACXU", None, "in.fa", 3)]
    error = locate(InputError("character 'X' at position 3", index=1), batch)
    assert str(error) == "in.fa:3: record b: character 'X' at position 3"
    structure = locate(InputError("position 2 has no known structure element", index=0, noun="structure"), batch)
    assert str(structure) == "in.fa:1: record a: its structure: position 2 has no known structure element"
    rows = [Row(10, "ACGU"), Row(11, "AC")]
    assert str(locate(InputError("is 2 long but model m:1 takes 4", index=1), rows)) == \
        "row 11 is 2 long but model m:1 takes 4"
    unplaced = SeqzooError("the batch is empty")
    assert locate(unplaced, batch) is unplaced
