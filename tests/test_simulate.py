import numpy as np
import pytest
from seqzoo.training.simulate import sample_site, simulate
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.fasta import read_fasta

from seqzoo.cli import main

MEME = "zoo/resources/motifs/HOCOMOCO_v11_FOXO1.meme"


def test_sampled_sites_follow_the_pwm():
    pwm = np.array([[1.0, 0, 0, 0], [0, 0, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4]])
    rng = np.random.default_rng(0)
    sites = np.array([sample_site(pwm, rng) for _ in range(4000)])
    assert (sites[:, 0] == 0).all() and set(sites[:, 1]) == {2, 3}
    freq = np.bincount(sites[:, 2], minlength=4) / len(sites)
    assert np.allclose(freq, pwm[2], atol=0.03)


def test_planted_at_centre_random_position_and_strand():
    pwm = np.eye(4)[[2, 0, 3, 0]]  # GATA, deterministic
    pos, neg = simulate([pwm], "ACGT", 200, 20, seed=1)
    assert len(pos) == 100 and len(neg) == 100 and all(len(s) == 20 for s in pos + neg)
    assert all(s[8:12] == "GATA" for s in pos)
    assert sum(s[8:12] == "GATA" for s in neg) < 5
    again = simulate([pwm], "ACGT", 200, 20, seed=1)
    assert again == (pos, neg)
    pos, _ = simulate([pwm], "ACGT", 200, 20, seed=2, position="random", strand="random")
    assert all("GATA" in s or "TATC" in s for s in pos)
    assert 20 < sum("TATC" in s for s in pos) < 80
    assert len({s.find("GATA") for s in pos if "GATA" in s}) > 5
    two, _ = simulate([pwm, np.eye(4)[[1, 1, 1]]], "ACGT", 10, 20, seed=3)
    assert all(s[6:13] == "GATACCC" for s in two)
    with pytest.raises(InputError, match="shorter than the motifs' total width"):
        simulate([pwm], "ACGT", 10, 3)


def test_cli_writes_positive_and_negative_fasta(tmp_path, capsys):
    assert main(["simulate", "--motif", MEME, "--motif-id", "FOXO1", "--n", "50", "--length", "40",
                 "--seed", "0", "--out", str(tmp_path)]) == 0
    pos, neg = read_fasta(tmp_path / "positive.fa"), read_fasta(tmp_path / "negative.fa")
    assert len(pos) == 25 and len(neg) == 25 and {len(r.sequence) for r in pos + neg} == {40}
    # FOXO1's core (columns 5-9: T G T T T) dominates the centre of positives
    core = sum(r.sequence[14 + 4:14 + 6] == "TG" for r in pos)
    assert core >= 18
    assert main(["simulate", "--motif", MEME, "--motif-id", "NOPE", "--out", str(tmp_path / "x")]) == 2
    assert "no motif 'NOPE'" in capsys.readouterr().err
