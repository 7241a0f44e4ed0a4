"""Genome language models: Markov baselines, held-out splits, training and publishing with
``seqzoo lm``, and serving (Score's log-likelihood and perplexity, ``llr`` variant scores,
the surprisal track), with their errors."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest
import torch
from seqzoo.serving.client import SeqZooClient
from seqzoo.serving.engine import Engine
from seqzoo.training import markov
from seqzoo.training.lm import split_genome
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.tiling import tile
from test_server import ServerThread

from seqzoo.cli import main

torch.set_num_threads(1)
SMALL = ["--hidden", "24", "--layers", "1", "--context", "40", "--epochs", "3", "--quiet", "--json"]


def test_markov_chains_know_the_limits():
    rng = np.random.default_rng(0)
    uniform = rng.integers(0, 4, 200_000).astype(np.uint8)
    positions = [np.arange(markov.MAX_ORDER, 100_000)]
    fit, _ = markov.best_order([uniform[100_000:]], [uniform[:100_000]], positions, [uniform[:100_000]], positions)
    assert fit["order"] <= 2 and abs(fit["perplexity"]["test"] - 4.0) < 0.02
    unit = rng.integers(0, 4, 37).astype(np.uint8)
    repeat = np.tile(unit, 3000)
    fit, _ = markov.best_order([repeat[:80_000]], [repeat[80_000:]], [np.arange(10, len(repeat) - 80_000)],
                            [repeat[80_000:]], [np.arange(10, len(repeat) - 80_000)])
    assert fit["perplexity"]["test"] < 1.02
    # order 0 is the base composition, with add-0.5 smoothing
    table = markov.fit([np.array([0, 0, 0, 1], dtype=np.uint8)], 0)
    np.testing.assert_allclose(np.exp(table[0]), np.array([3.5, 1.5, 0.5, 0.5]) / 6)


def test_held_out_stretches_never_touch_training():
    contigs = {"a": np.zeros(1000, dtype=np.uint8), "b": np.ones(400, dtype=np.uint8)}
    split = split_genome(contigs, 20, 0.1)
    assert split.regions["train"] == [{"contig": "a", "start": 0, "end": 900}, {"contig": "b", "start": 0, "end": 360}]
    assert split.regions["val"][0] == {"contig": "a", "start": 900, "end": 950}
    assert split.regions["test"][0] == {"contig": "a", "start": 950, "end": 1000}
    whole = split_genome(contigs, 20, holdout_contigs=["b"])
    assert [r["contig"] for r in whole.regions["train"]] == ["a"]
    with pytest.raises(InputError, match="holdout-contigs c: not in the genome"):
        split_genome(contigs, 20, holdout_contigs=["c"])
    with pytest.raises(InputError, match="the training stretches hold no window"):
        split_genome({"a": np.zeros(1000, dtype=np.uint8)}, 20, holdout_contigs=["a"])
    from seqzoo.training.lm import eval_positions

    assert len(eval_positions(np.zeros(30, dtype=np.uint8), 40, 10)) == 0  # shorter than a window: not scored
    assert eval_positions(np.zeros(50, dtype=np.uint8), 40, 10).tolist() == list(range(20, 50))
    assert tile(39, 40) == ([], [])  # shorter than a window: no window
    for n, length in ((1000, 40), (1001, 40), (40, 40), (97, 41)):  # every base from L // 2 on, once
        starts, firsts = tile(n, length)
        scored = np.concatenate([np.arange(s + f, s + length) for s, f in zip(starts, firsts)])
        assert sorted(scored.tolist()) == list(range(length // 2, n))


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lm")
    rng = np.random.default_rng(1)
    unit = "".join(rng.choice(list("ACGT"), 37))
    genome = tmp / "genome.fa.gz"
    genome.write_bytes(gzip.compress(f">rep\n{unit * 400}\n>rnd\n{''.join(rng.choice(list('ACGT'), 12000))}NNNN\n"
                                     .encode()))
    assert main(["lm", "--name", "toy-lm", "--genome", str(genome), "--out", str(tmp / "run"), "--zoo",
                 str(tmp / "zoo"), *SMALL]) == 0
    return tmp


def test_lm_publishes_a_card_that_verifies(lm, capsys):
    card = json.loads((lm / "zoo" / "toy-lm" / "1" / "card.json").read_text())
    assert card["task"] == "language_model" and card["classes"] == ["log_likelihood", "perplexity"]
    assert set(card["graphs"]) == {"model.onnx", "logprobs.onnx"} and card["input"]["length"] == 40
    assert card["baseline"]["kind"] == "markov" and 0 <= card["baseline"]["order"] <= 10
    assert card["training"]["genome"]["sha256"] and card["metrics"]["perplexity"]["test"] > 1
    assert "Learned k-mer preferences" in (lm / "zoo" / "toy-lm" / "1" / "report.html").read_text()
    assert main(["zoo", "verify", "toy-lm", "--zoo", str(lm / "zoo")]) == 0


def test_window_scores_are_the_sum_of_the_per_base_surprisal(lm):
    engine = Engine.load(lm / "zoo" / "toy-lm" / "1", device="cpu", threads=1)
    codes = np.random.default_rng(2).integers(0, 5, size=(7, 40)).astype(np.uint8)  # N included
    ll, ppl = engine.predict(codes).T
    surprisal = engine.surprisal(codes)
    assert np.isnan(surprisal[:, 0]).all()
    np.testing.assert_allclose(-np.nansum(surprisal, axis=1), ll, rtol=1e-5)
    known = (codes[:, 1:] < 4).sum(axis=1)
    np.testing.assert_allclose(ppl, np.exp(-ll / known), rtol=1e-5)
    with pytest.raises(InputError, match="language model: it has no gradient graphs"):
        engine.integrated_gradients(engine.alphabet.one_hot(codes), engine.selector(7))


def test_served_scores_llr_variants_and_surprisal(lm, tmp_path, capsys):
    rng = np.random.default_rng(3)
    genome = tmp_path / "g.fa"
    sequence = "".join(rng.choice(list("ACGT"), 3000))
    genome.write_text(f">chr1\n{sequence}\n")
    vcf = tmp_path / "v.vcf"
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=3000>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for pos in (200, 900, 1500):
        ref = sequence[pos - 1]
        lines.append(f"chr1\t{pos}\t.\t{ref}\t{'A' if ref != 'A' else 'C'}\t.\t.\t.")
    lines.append(f"chr1\t2000\t.\t{sequence[1999:2002]}\t{sequence[1999]}\t.\t.\t.")  # a deletion
    vcf.write_text("\n".join(lines) + "\n")
    engine = Engine.load(lm / "zoo" / "toy-lm" / "1", device="cpu", threads=1)
    windows = [sequence[i:i + 40] for i in (0, 100, 2000)]
    server = ServerThread(lm / "zoo")
    try:
        with SeqZooClient(server.target, timeout=30) as client:
            np.testing.assert_allclose(client.score("toy-lm", windows), engine.predict(engine.encode(windows)),
                                       rtol=1e-6)
            with pytest.raises(InputError, match="language model"):
                client.attribute("toy-lm", windows)
        outputs = {}
        for where in (["--local", "--zoo", str(lm / "zoo")], ["--server", server.target]):
            out = tmp_path / f"{where[0][2:]}.tsv"
            assert main(["variants", *where, "--model", "toy-lm", "--vcf", str(vcf), "--genome", str(genome),
                         "--scores", "llr", "-o", str(out), "--quiet"]) == 0
            outputs[where[0]] = out.read_text().splitlines()[1:]
        assert outputs["--local"] == outputs["--server"] and len(outputs["--local"]) == 5
        header = outputs["--local"][0].split("\t")
        row = dict(zip(header, outputs["--local"][1].split("\t")))
        ref_window, alt_window = sequence[199 - 20:199 + 20], sequence[179:199] + row["alt"] + sequence[200:219]
        ref_ll, alt_ll = engine.predict(engine.encode([ref_window, alt_window]))[:, 0]
        assert math.isclose(float(row["log_likelihood_llr"]), alt_ll - ref_ll, rel_tol=1e-4, abs_tol=1e-4)
        assert main(["variants", "--server", server.target, "--model", "toy-lm", "--vcf", str(vcf), "--genome",
                     str(genome), "--scores", "logit_diff", "-o", str(tmp_path / "x.tsv"), "--quiet"]) == 2
        assert "score 'logit_diff' is for probabilities" in capsys.readouterr().err
    finally:
        server.drain()
    (tmp_path / "r.bed").write_text("chr1\t0\t500\n")
    assert main(["annotate", "--local", "--zoo", str(lm / "zoo"), "--model", "toy-lm", "--genome", str(genome),
                 "--regions", str(tmp_path / "r.bed"), "-o", str(tmp_path / "ann"), "--no-progress"]) == 0
    import pyBigWig

    with pyBigWig.open(str(tmp_path / "ann" / "surprisal.plus.bw")) as bw:
        values = np.asarray(bw.values("chr1", 0, 500))
    codes = engine.encode([sequence[60:100]])  # base 80's window: the 20 bases before it are its context
    assert math.isclose(values[80], float(engine.surprisal(codes)[0, 20]), rel_tol=1e-5)
    assert np.isfinite(values[1:]).all()


def test_bad_lm_input_is_one_line(tmp_path, capsys):
    (tmp_path / "short.fa").write_text(">a\nACGTACGT\n")
    (tmp_path / "n.fa").write_text(">a\n" + "ACGT" * 100 + "\n>b\nNNNNNNNN\n")
    for argv, message in (
            (["--genome", str(tmp_path / "short.fa")], "the genome has 8 bases, not more than the context 40"),
            (["--genome", str(tmp_path / "n.fa")], "contig 'b' holds only N"),
            (["--genome", str(tmp_path / "nowhere.fa")], "no such file"),
            (["--genome", str(tmp_path / "n.fa"), "--holdout-fraction", "1.5"], "between 0 and 1")):
        assert main(["lm", "--name", "bad", "--out", str(tmp_path / "run"), "--zoo", str(tmp_path / "zoo"),
                     *SMALL, *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (tmp_path / "run").exists()


def test_llr_is_a_language_models_score_only():
    from seqzoo.serving.effects import check_scores, effect_scores

    check_scores(["llr", "diff"], {"task": "language_model"}, "lm:1")
    with pytest.raises(InputError, match="score 'llr' is a language model's log-likelihood ratio; model pum2:1"):
        check_scores(["llr"], {"task": "binary"}, "pum2:1")
    with pytest.raises(InputError, match="score 'log2fc' is for probabilities"):
        check_scores(["log2fc"], {"task": "language_model"}, "lm:1")
    ref, alt = np.array([[-130.0, 3.7]]), np.array([[-128.5, 3.6]])
    np.testing.assert_allclose(effect_scores(ref, alt, ["llr"])["llr"], [[1.5, -0.1]], atol=1e-5)
