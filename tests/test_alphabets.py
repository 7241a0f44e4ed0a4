import numpy as np
import pytest
from seqzoo.zoo.alphabets import (
    Alphabet,
    ProductAlphabet,
    get_alphabet,
    reverse_complement,
    structure_alphabet,
)
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.inputs import alphabet_from_dict


def test_dna_round_trip_case_insensitive_and_unknown_code():
    dna = get_alphabet("dna")
    codes = dna.encode(["ACGTN", "acgtr"])
    assert codes.dtype == np.uint8
    assert codes.tolist() == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
    assert dna.decode(codes) == ["ACGTN", "ACGTN"]


def test_one_hot_zero_and_uniform_rules():
    codes = get_alphabet("dna").encode(["AN"])
    zero = get_alphabet("dna").one_hot(codes)
    uniform = get_alphabet("dna", unknown="uniform").one_hot(codes)
    assert zero.shape == (1, 2, 4) and zero.dtype == np.float32
    assert zero[0, 0].tolist() == [1, 0, 0, 0] and zero[0, 1].tolist() == [0, 0, 0, 0]
    assert uniform[0, 1].tolist() == [0.25] * 4


def test_error_names_sequence_position_and_character():
    with pytest.raises(InputError, match=r"sequence 1: character 'X' at position 3 is not in the rna alphabet ACGU"):
        get_alphabet("rna").encode(["ACGU", "ACXU"])
    with pytest.raises(InputError, match="sequence 1 is 3 long"):
        get_alphabet("rna").encode(["ACGU", "ACG"])
    with pytest.raises(InputError, match="'é'"):
        get_alphabet("rna").encode(["ACGU", "ACéU"])


def test_t_u_conversion_is_explicit():
    rna, dna = get_alphabet("rna"), get_alphabet("dna")
    with pytest.raises(InputError):
        rna.encode(["ACGT"])
    assert rna.encode(["ACGT"], convert_tu=True).tolist() == rna.encode(["ACGU"]).tolist()
    assert dna.encode(["acgu"], convert_tu=True).tolist() == dna.encode(["ACGT"]).tolist()


def test_protein_and_custom_alphabets():
    protein = get_alphabet("protein")
    assert protein.size == 20
    assert protein.decode(protein.encode(["MKWX"])) == ["MKWX"]
    custom = get_alphabet("HPNC")
    assert custom.letters == "HPNC" and custom.unknown_letters == ""
    assert custom.encode(["CNPH"]).tolist() == [[3, 2, 1, 0]]


def test_product_alphabet_round_trip_keeps_structure_of_unknown_bases():
    product = ProductAlphabet(get_alphabet("rna"), structure_alphabet("annotated"))
    seqs, structs = ["ACGUNA", "GGGAAA"], ["FSSHHT", "SSSHHH"]
    codes = product.encode(seqs, structs)
    assert product.size == 24 and codes.max() < product.num_codes
    assert codes[0, 0] == 0 * 6 + 0 and codes[0, 1] == 1 * 6 + 2  # (A,F) and (C,S)
    assert product.decode(codes) == (seqs, structs)
    onehot = product.one_hot(codes)
    assert onehot.shape == (2, 6, 24)
    assert onehot[0, 4].sum() == 0  # N in a hairpin: all-zero row under the zero rule
    assert onehot[1].sum(axis=1).tolist() == [1.0] * 6


def test_product_alphabet_uniform_unknown_spreads_over_bases_at_that_structure():
    product = ProductAlphabet(get_alphabet("rna", unknown="uniform"), structure_alphabet("dot-bracket"))
    row = product.one_hot(product.encode(["N"], ["("]))[0, 0]
    assert np.allclose(row[[0, 3, 6, 9]], 0.25) and row.sum() == pytest.approx(1.0)


def test_card_round_trip_and_reverse_complement():
    product = ProductAlphabet(get_alphabet("rna"), structure_alphabet("annotated"))
    assert alphabet_from_dict(product.to_dict()) == product
    assert alphabet_from_dict(get_alphabet("dna").to_dict()) == get_alphabet("dna")
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("AACGU", rna=True) == "ACGUU"


def test_bad_alphabets_are_refused():
    with pytest.raises(InputError):
        Alphabet("custom", "AAC")
    with pytest.raises(InputError):
        get_alphabet("dna", unknown="random")
