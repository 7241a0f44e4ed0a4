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
