import numpy as np
import pytest
from seqzoo.zoo import structure
from seqzoo.zoo.alphabets import ProductAlphabet, get_alphabet, structure_alphabet
from seqzoo.zoo.errors import InputError


@pytest.mark.parametrize("dot_bracket, annotated", [
    ("((((....))))", "SSSSHHHHSSSS"),              # a hairpin
    ("..((((...))))..", "FFSSSSHHHSSSSTT"),        # unpaired 5' and 3' ends
    ("((..((...))..))", "SSIISSHHHSSIISS"),        # interior loop
    ("(((...)).)", "SSSHHHSSIS"),                  # bulge (one-sided interior loop)
    ("((..((...))..((...))..))", "SSMMSSHHHSSMMSSHHHSSMMSS"),  # multiloop
    ("((...))..((...))", "SSHHHSSMMSSHHHSS"),      # exterior loop between two stems
    (".....", "FFFFF"),                            # nothing paired
])
def test_annotation_of_hand_checked_structures(dot_bracket, annotated):
    assert structure.annotate(dot_bracket) == annotated


def test_unbalanced_brackets_are_errors():
    with pytest.raises(InputError, match="position 3 closes nothing"):
        structure.annotate("..)")
    with pytest.raises(InputError, match="never closed"):
        structure.annotate("((.)")


def test_fold_hairpin_cache_and_tu(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path))
    hairpin = "GGGGGAAAACCCCC"
    folded = structure.fold([hairpin, hairpin.replace("U", "T").lower(), "AAAAAAA"], use_cache=True)
    assert folded == ["(((((....)))))", "(((((....)))))", "......."]
    assert list(tmp_path.glob("structure-vienna-*.sqlite"))
    structure._MEMORY.clear()
    # the disk cache answers without folding: a poisoned entry proves the value is read back
    cache = structure._DiskCache(tmp_path, structure.vienna_version())
    cache.put([(structure._key(hairpin, 37.0), "((((......))))")])
    cache.close()
    assert structure.fold([hairpin])[0] == "((((......))))"
    assert structure.fold([hairpin], use_cache=False)[0] == "(((((....)))))"
    structure._MEMORY.clear()


def test_fold_in_a_process_pool_matches_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGU"), 40)) for _ in range(70)]
    pooled = structure.fold(seqs, processes=2, use_cache=False)
    single = structure.fold(seqs, processes=1, use_cache=False)
    assert pooled == single and all(len(s) == 40 for s in pooled)


def test_structures_join_the_sequence_through_the_product_alphabet(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path))
    seq = "AAGGGGGAAAACCCCCAA"
    annotated = structure.structures([seq], "annotated")[0]
    assert annotated == "FFSSSSSHHHHSSSSSTT"
    product = ProductAlphabet(get_alphabet("rna"), structure_alphabet("annotated"))
    codes = product.encode([seq], [annotated])
    assert product.size == 24 and product.decode(codes) == ([seq], [annotated])
    assert structure.convert(["((..))"], "annotated") == ["SSHHSS"]
    with pytest.raises(InputError, match="not a dot-bracket structure"):
        structure.convert(["FFSS"], "dot-bracket")
