"""MEME round trip (our reader, memelite's reader) and TOMTOM matching against the shipped databases."""

import numpy as np
import pytest
from seqzoo.training import motif_match
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.motifs_io import Motif, consensus, read_meme, write_meme

FOXO1 = motif_match.database_path("hocomoco-foxo1")


def test_meme_round_trip_any_alphabet(tmp_path):
    rng = np.random.default_rng(0)
    motifs = [Motif("m1", rng.dirichlet(np.ones(6), size=5), "structure", 30), Motif("m2", np.eye(6)[[0, 2]])]
    path = write_meme(tmp_path / "s.meme", motifs, "FTSHIM", strands="+")
    letters, back = read_meme(path)
    assert letters == "FTSHIM" and [m.name for m in back] == ["m1", "m2"]
    assert back[0].description == "structure" and back[0].nsites == 30
    np.testing.assert_allclose(back[0].pwm, motifs[0].pwm, atol=1e-6)
    np.testing.assert_allclose(back[1].pwm, np.eye(6)[[0, 2]])
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_written_meme_is_readable_by_memelite_and_matches_itself(tmp_path):
    from memelite.io import read_meme as memelite_read

    _, (foxo1,) = read_meme(FOXO1)
    path = write_meme(tmp_path / "q.meme", [Motif("query", foxo1.pwm, "FOXO1")], "ACGT")
    theirs = memelite_read(str(path))
    (key, pwm), = theirs.items()
    assert key == "query FOXO1"
    np.testing.assert_allclose(pwm.T, foxo1.pwm, atol=1e-6)
    # the written motif, matched against JASPAR 2024, is a forkhead with a small q-value
    (hits,) = motif_match.match_motifs([pwm.T], "ACGT", "jaspar2024")
    assert hits[0]["name"].upper().startswith(("FOX", "ETV5::FOX")) or "FOX" in hits[0]["name"].upper()
    assert hits[0]["q_value"] < 0.01 and hits[0]["database"] == "JASPAR2024_CORE_vertebrates"
    assert hits[0]["q_value"] <= hits[1]["q_value"] <= hits[2]["q_value"]


def test_match_to_target_recovers_a_planted_motif_and_rejects_noise():
    _, (foxo1,) = read_meme(FOXO1)
    rng = np.random.default_rng(1)
    noisy = 0.8 * foxo1.pwm[1:11] + 0.2 * rng.dirichlet(np.ones(4), size=10)
    uniform = np.full((10, 4), 0.25)
    q, best = motif_match.match_to_target([noisy, uniform], foxo1.pwm, "ACGT", "jaspar2024")
    assert q[0] < 0.01
    assert q[1] > 0.05
    assert "FOX" in best[0]["name"].upper()


def test_rna_motif_against_attract_forward_strand_only():
    # PUM2's UGUAAAUA
    pwm = np.full((8, 4), 0.02)
    pwm[np.arange(8), ["ACGU".index(c) for c in "UGUAAAUA"]] = 0.94
    (hits,) = motif_match.match_motifs([pwm], "ACGU", None, alphabet_name="rna")
    assert hits[0]["database"] == "ATtRACT_human_RBP"
    assert hits[0]["name"] in ("PUM1", "PUM2") and hits[0]["q_value"] < 0.01
    assert consensus(pwm, "ACGU") == "UGUAAAUA"


def test_bh_qvalues_arithmetic():
    p = np.array([[0.01, 0.04, 0.03, 0.5]])
    # sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.06, 0.0533, 0.5 -> running min from the right
    np.testing.assert_allclose(motif_match.bh_qvalues(p), [[0.04, 0.05333333, 0.05333333, 0.5]])


def test_database_errors_name_the_problem(tmp_path):
    with pytest.raises(NotFoundError, match="protein"):
        motif_match.database_path(None, "protein")
    with pytest.raises(NotFoundError, match="nope.meme"):
        motif_match.database_path(tmp_path / "nope.meme")
    with pytest.raises(InputError, match="ACGT"):
        motif_match.match_motifs([np.full((5, 6), 1 / 6)], "FTSHIM", "jaspar2024")
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nALPHABET= ACGT\n\nMOTIF x\nletter-probability matrix: alength= 4 w= 2\n"
                   "0.25 0.25 0.25 0.25\n0.5 0.5 x 0\n")
    with pytest.raises(InputError, match=r"bad.meme:8"):
        read_meme(bad)
