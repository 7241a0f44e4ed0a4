"""One self-contained HTML report per model version: what the model learned, in pictures.

The page holds the model's metrics and curves, the kernel motif table sorted by importance (logos,
positional and class enrichment, best database match), the clustered co-occurrence heatmap, the
attribution consensus motifs with example attribution maps, the optimised class PWMs and the
k-mer view. Every picture is inlined as a base64 PNG and there is no script or external link, so
the file opens in any browser without a network. It reads what ``interpret_run`` wrote
(``interpretation/interpretation.json`` and the PNGs) and the card; it computes nothing itself.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path

from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.atomic import write_text

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1150px;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #e3e3e3;padding:3px 7px;font-size:.88em;
vertical-align:middle} th{background:#f6f6f6} .mono{font-family:Menlo,Consolas,monospace}
.muted{color:#777;font-size:.85em} img{max-width:100%} .row{display:flex;flex-wrap:wrap;gap:12px}
.hit{color:#0a6b2d;font-weight:600} .nohit{color:#999}
"""


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return _esc(value)


class _Images:
    """Finds a PNG by file name in the given folders and inlines it."""

    def __init__(self, folders: Sequence[Path]):
        self.folders = [Path(f) for f in folders]

    def tag(self, name: str | None, alt: str = "", width: int | None = None) -> str:
        if not name:
            return ""
        for folder in self.folders:
            for candidate in (folder / name, folder / "interpretation" / name):
                if candidate.is_file():
                    data = base64.b64encode(candidate.read_bytes()).decode("ascii")
                    size = f' width="{width}"' if width else ""
                    return f'<img alt="{_esc(alt or name)}"{size} src="data:image/png;base64,{data}">'
        return ""


def _match_cell(match: dict | None, hits: list | None = None) -> str:
    """The significant match, or the best (not significant) hit in grey."""
    if match:
        return (f'<span class="hit">{_esc(match["name"])}</span> <span class="muted">{_esc(match["id"])}, '
                f'q = {_fmt(match["q_value"], 2)}</span>')
    if hits:
        return (f'<span class="nohit">none significant (best {_esc(hits[0]["name"])}, '
                f'q = {_fmt(hits[0]["q_value"], 2)})</span>')
    return '<span class="nohit">not matched</span>'



def _metrics(card: dict) -> str:
    test = (card.get("metrics") or {}).get("test") or {}
    classes = card.get("classes") or []
    if not test:
        return '<p class="muted">No metrics in the card.</p>'
    rows = [f"<tr><th>accuracy</th><td colspan='{max(len(classes), 1)}'>{_fmt(test.get('accuracy'))}</td></tr>",
            "<tr><th>class</th>" + "".join(f"<th>{_esc(c)}</th>" for c in classes) + "</tr>"]
    for key in ("auroc", "ap", "precision", "recall", "f1"):
        values = test.get(key)
        if isinstance(values, dict):
            rows.append(f"<tr><th>{key}</th>" + "".join(f"<td>{_fmt(values.get(c))}</td>" for c in classes) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def render(card: dict, summary: dict | None, folders: Sequence[Path]) -> str:
    """The report's HTML text.

    Parameters
    ----------
    card : the model card (or a run's card.json)
    summary : ``interpretation.json`` (None: a report of metrics only)
    folders : where the PNGs are (the version or run folder, its ``interpretation/`` is searched too)
    """
    img = _Images(folders)
    title = f"{card.get('name') or 'model'}" + (f" v{card['version']}" if card.get("version") else "")
    counts = (card.get("training") or {}).get("counts") or {}
    parts = [(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_esc(title)} – seqzoo report</title>"
              f"<style>{CSS}</style></head><body>"),
             f"<h1>{_esc(title)}</h1><p>{_esc(card.get('description'))}</p>",
             (f"<p class='muted'>task {_esc(card.get('task'))} · classes {_esc(', '.join(card.get('classes') or []))}"
              f" · input length {_esc((card.get('input') or {}).get('length'))} · created {_esc(card.get('created'))}</p>")]
    if counts:
        parts.append("<p class='muted'>sequences: " + "; ".join(
            f"{_esc(split)} " + ", ".join(f"{_esc(c)} {n}" for c, n in per.items()) for split, per in counts.items())
            + "</p>")
    parts.append("<h2>Metrics (test split)</h2>" + _metrics(card))
    parts.append("<div class='row'>" + "".join(img.tag(n, n, 360) for n in ("roc.png", "pr.png", "history.png"))
                 + "</div>")
    if not summary:
        parts.append("<p class='muted'>No interpretation was made for this model.</p></body></html>")
        return "\n".join(parts)
    classes = summary["classes"]
    db = summary.get("database") or "no database"
    parts.append(f"<h2>Kernel motifs, by importance</h2><p class='muted'>pysster's rule on "
                 f"{summary['sequences']} test sequences: each kernel's PWM is built from the subsequences at the "
                 f"maximum activation of the top class's sequences above the threshold; importance = highest minus "
                 f"lowest class mean of the maximum activation. Matches: TOMTOM (memelite) against {_esc(db)}.</p>")
    parts.append(_kernel_table(summary["kernels"], img))
    if summary.get("cooccurrence"):
        parts.append("<h2>Kernel co-occurrence</h2><p class='muted'>Maximum activations (z-scored per kernel), "
                     "kernels and sequences clustered with Ward's method; the bar gives each sequence's class.</p>"
                     + img.tag(summary["cooccurrence"], "co-occurrence heatmap"))
    methods = {m.get("method") for m in summary.get("consensus") or []}
    how = ("patterns of TF-MoDISco (modisco-lite) on their hypothetical contributions"
           if methods == {"tfmodisco-lite"} else
           "seqlets around attribution peaks, clustered (Ward) and aligned into PWMs" if methods <= {"seqlets", None}
           else "TF-MoDISco patterns where it found any, else seqlets clustered (Ward) into PWMs")
    parts.append("<h2>Attribution consensus motifs</h2><p class='muted'>Integrated gradients (all-zero baseline) "
                 f"of test positives scored above 0.5; {how}.</p>")
    if summary.get("consensus"):
        rows = ["<tr><th>motif</th><th>logo</th><th>consensus</th><th>seqlets</th><th>best match</th></tr>"]
        for m in summary["consensus"]:
            rows.append(f"<tr><td>{_esc(m['id'])}</td><td>{img.tag(m.get('logo'), m['id'], 260)}</td>"
                        f"<td class='mono'>{_esc(m['consensus'])}</td><td>{m['sites']} ({m['fraction']:.0%})</td>"
                        f"<td>{_match_cell(m.get('match'), m.get('matches'))}</td></tr>")
        parts.append("<table>" + "".join(rows) + "</table>")
    else:
        parts.append("<p class='muted'>No confident positives, so no consensus motifs.</p>")
    for example in summary.get("examples") or []:
        parts.append(f"<h3>Example attribution maps: {_esc(example['class'])}</h3>" + img.tag(example["image"]))
        for track in example.get("tracks") or []:  # a multimodal model's track maps (one picture for all)
            shares = ", ".join(f"{_esc(k)} {v:+.3f}" for k, v in track["per_letter"].items())
            parts.append(f"<p>Track <b>{_esc(track['name'])}</b>: attribution per letter held, summed over "
                         f"positions and averaged over the positives: {shares}</p>")
        if example.get("tracks"):
            parts.append(img.tag(example["tracks"][0]["image"]))
    parts.append("<h2>Optimised class inputs</h2><p class='muted'>argmax over S of the class's log-odds minus "
                 "&lambda;&middot;||S||&sup2; by gradient ascent from random starts (S clipped to [0, 1]); the most "
                 "informative window, Laplace-smoothed into a PWM.</p>")
    rows = ["<tr><th>class</th><th>logo</th><th>consensus</th><th>P(class | S)</th><th>best match</th></tr>"]
    for m in summary.get("optimised") or []:
        rows.append(f"<tr><td>{_esc(m['class'])}</td><td>{img.tag(m.get('logo'), m['id'], 260)}</td>"
                    f"<td class='mono'>{_esc(m['consensus'])}</td><td>{_fmt(m.get('probability'))}</td>"
                    f"<td>{_match_cell(m.get('match'), m.get('matches'))}</td></tr>")
    parts.append("<table>" + "".join(rows) + "</table>")
    parts.append(_kmer_tables(summary.get("kmers") or []))
    parts.append(f"<p class='muted'>Made by seqzoo in {summary.get('seconds', 0):.1f} s of interpretation; "
                 f"classes: {_esc(', '.join(classes))}.</p></body></html>")
    return "\n".join(parts)

def _kernel_table(kernels: list[dict], img: _Images) -> str:
    """The kernel motifs, one row each: logo, consensus, importance, enrichment, best match."""
    rows = [("<tr><th>#</th><th>kernel</th><th>logo</th><th>consensus</th><th>importance</th><th>sites</th>"
             "<th>top class</th><th>peak</th><th>best match</th><th>positional and class enrichment</th></tr>")]
    for rank, k in enumerate(kernels, 1):
        consensus = _esc(k["consensus"]) + (f"<br>{_esc(k['structure_consensus'])}" if k.get("structure_consensus")
                                            else "")
        rows.append(f"<tr><td>{rank}</td><td>{k['kernel']}</td><td>{img.tag(k.get('logo'), k['id'], 240)}</td>"
                    f"<td class='mono'>{consensus}</td><td>{_fmt(k['importance'])}</td><td>{k['sites']}</td>"
                    f"<td>{_esc(k['top_class'])}</td><td>{_fmt(k.get('position_peak'))}</td>"
                    f"<td>{_match_cell(k.get('match'), k.get('matches'))}</td><td>{img.tag(k.get('enrichment'), k['id'], 420)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _kmer_tables(blocks: list[dict]) -> str:
    """Per class, the k-mers enriched in the best and in the worst scored positives."""
    parts = ["<h2>k-mers of the best and worst scored positives</h2>"]
    for block in blocks:
        rows = [("<tr><th>top 10% k-mer</th><th>share top</th><th>share bottom</th><th></th>"
                 "<th>bottom 10% k-mer</th><th>share bottom</th><th>share top</th></tr>")]
        for a, b in zip(block["top"], block["bottom"]):
            rows.append(f"<tr><td class='mono'>{_esc(a['kmer'])}</td><td>{a['fraction_top']:.2f}</td>"
                        f"<td>{a['fraction_bottom']:.2f}</td><td></td><td class='mono'>{_esc(b['kmer'])}</td>"
                        f"<td>{b['fraction_bottom']:.2f}</td><td>{b['fraction_top']:.2f}</td></tr>")
        parts.append(f"<h3>{_esc(block['class'])} ({block['n']} sequences per group)</h3><table>{''.join(rows)}</table>")
    return "\n".join(parts)


def load_summary(folder: Path) -> dict | None:
    """``interpretation/interpretation.json`` of a version or run folder, or None."""
    path = Path(folder) / "interpretation" / "interpretation.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def write_report(path: str | os.PathLike, card: dict, summary: dict | None, folders: Sequence[str | os.PathLike]) -> Path:
    """Render and write the report atomically; returns its path."""
    path = Path(path)
    text = render(card, summary, [Path(f) for f in folders])
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, text)
