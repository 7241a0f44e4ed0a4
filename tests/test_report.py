"""The published version carries its interpretation; the report is self-contained HTML."""

import re

from seqzoo.training.report import load_summary, render
from seqzoo.zoo.motifs_io import read_meme

from seqzoo.cli import main


def test_published_version_has_motifs_meme_report_and_card_motifs(published_model):
    path = published_model.path
    card = published_model.card
    kernels = [m for m in card["motifs"] if m["kind"] == "kernel"]
    assert len(kernels) == 16  # conftest's SMALL_PARAMS: 16 first-layer kernels
    importances = [m["importance"] for m in kernels]
    assert importances == sorted(importances, reverse=True)
    assert all(set(m["consensus"].upper()) <= set("ACGU") for m in card["motifs"])
    for m in card["motifs"]:
        assert m["match"] is None or (m["match"]["q_value"] < 0.05 and m["match"]["database"] == "ATtRACT_human_RBP")
    letters, motifs = read_meme(path / "motifs.meme")
    assert letters == "ACGU" and [m.name for m in motifs[:16]] == [m["id"] for m in kernels]
    summary = load_summary(path)
    assert summary["classes"] == card["classes"] and summary["optimised"]


def test_report_is_self_contained(published_model):
    text = (published_model.path / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:|//)""", text)
    assert "<script" not in text
    images = re.findall(r'src="data:image/png;base64,', text)
    assert len(images) >= 10  # curves, kernel logos and enrichment, heatmap, attribution, optimised
    assert "Kernel motifs, by importance" in text and "Kernel co-occurrence" in text


def test_cli_report_of_a_zoo_ref(published_model, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", "pum2:1", "--zoo", str(published_model.zoo_root), "-o", str(out)]) == 0
    assert out.read_text().count("data:image/png;base64,") >= 10


def test_cli_report_refuses_a_folder_that_is_not_a_model(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "neither a training run" in capsys.readouterr().err


def test_render_without_interpretation_shows_metrics():
    card = {"name": "m", "version": 2, "classes": ["a", "b"], "task": "binary",
            "metrics": {"test": {"accuracy": 0.9, "auroc": {"a": 0.91, "b": 0.92}}}}
    text = render(card, None, [])
    assert "m v2" in text and "0.920" in text and "No interpretation" in text


def test_structure_model_gets_sequence_and_structure_motifs(tmp_path):
    import numpy as np
    import torch
    from seqzoo.training.interpret import interpret_model
    from seqzoo.training.models import build_model
    from seqzoo.zoo.alphabets import ProductAlphabet, get_alphabet, structure_alphabet

    torch.manual_seed(0)
    torch.set_num_threads(1)
    alphabet = ProductAlphabet(get_alphabet("rna"), structure_alphabet("annotated"))
    model = build_model({"conv_num": 1, "kernel_num": 4, "kernel_len": 6, "neuron_num": 8}, alphabet.size, 2, 30,
                        "binary").eval()
    rng = np.random.default_rng(0)
    codes = rng.integers(0, alphabet.size, size=(60, 30)).astype(np.uint8)
    labels = np.eye(2, dtype=np.float32)[np.arange(60) % 2]
    with torch.no_grad():
        scores = model.probabilities(torch.from_numpy(alphabet.one_hot(codes))).numpy()
    scores[:, 1] = np.where(labels[:, 1] > 0, 0.9, 0.1)  # make every positive "confident" for the IG step
    scores[:, 0] = 1 - scores[:, 1]
    config = {"alphabet": alphabet.to_dict(), "length": 30, "task": "binary", "classes": ["neg", "pos"]}
    result = interpret_model(model, config, codes, labels, scores, tmp_path, ig_sequences=10, ig_steps=4,
                             optimise_steps=3, optimise_starts=1, top_kernels=2)
    kernels = [m for m in result["motifs"] if m["kind"] == "kernel"]
    assert len(kernels) == 4
    assert all(set(m["structure_consensus"].upper()) <= set("FTSHIM") for m in kernels)
    assert all(len(m["consensus"]) == 6 and set(m["consensus"].upper()) <= set("ACGU") for m in kernels)
    letters, structure = read_meme(tmp_path / "motifs_structure.meme")
    assert letters == "FTSHIM" and len(structure) == 4
    np.testing.assert_allclose(structure[0].pwm.sum(axis=1), 1.0, atol=1e-5)
    letters, sequence = read_meme(tmp_path / "motifs.meme")
    assert letters == "ACGU" and sequence[0].pwm.shape == (6, 4)
    assert (tmp_path / "interpretation" / "attribution_pos.png").is_file()
