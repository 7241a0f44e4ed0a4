"""``index.html``: a registry's index as one self-contained page (no network, no scripts).

One row per model (its latest version; older versions counted, deprecated ones marked): name,
version and description, task and classes, species and assembly, test AUROC / AP (or a language
model's perplexity), the top motifs as logos (drawn from the version's ``motifs.meme``, embedded
as PNG data) with their best database match, the licence, the digest and the command that pulls
exactly that version.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from seqzoo.zoo.io.atomic import write_text

PAGE = "index.html"
STYLE = ("body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;width:100%}"
         "th,td{border-bottom:1px solid #ddd;padding:.4em .5em;vertical-align:top;text-align:left;font-size:13px}"
         "th{background:#f4f4f4}code{font-size:11px;word-break:break-all}.dep{color:#b00;font-weight:bold}"
         "img{max-width:260px;display:block}.small{color:#666;font-size:11px}")


def _logos(version_dir: Path, motifs: list[dict]) -> str:
    """An <img> of the listed motifs' logos (from motifs.meme), or '' when there are none."""
    meme = version_dir / "motifs.meme"
    wanted = [m["id"] for m in motifs if m.get("id")]
    if not wanted or not meme.is_file():
        return ""
    from seqzoo.zoo.logos import pwm_logos
    from seqzoo.zoo.motifs_io import read_meme

    letters, found = read_meme(meme)
    by_id = {m.name: m for m in found}
    panels = [(by_id[i].pwm, letters, i, False) for i in wanted if i in by_id]
    if not panels:
        return ""
    data = base64.b64encode(pwm_logos(panels, dpi=60)).decode()
    return f'<img alt="motif logos" src="data:image/png;base64,{data}">'


def _metrics(entry: dict) -> str:
    m = entry.get("metrics") or {}
    if "perplexity" in m:
        return f"perplexity {m['perplexity']:.3f}"
    return " / ".join(f"{m[k]:.3f}" for k in ("auroc", "ap") if k in m) or "-"


def _row(root: Path, name: str, versions: dict, url: str) -> str:
    latest = max(versions, key=int)
    e = versions[latest]
    esc = html.escape
    motifs = e.get("motifs") or []
    matches = "<br>".join(esc(f"{m.get('consensus')}" + (f" = {m['match']}" if m.get("match") else "")
                              + (f" (q {m['q_value']:.2g})" if m.get("q_value") is not None else ""))
                          for m in motifs)
    older = f'<div class="small">{len(versions) - 1} older version(s)</div>' if len(versions) > 1 else ""
    deprecated = e.get("deprecated")
    mark = f'<div class="dep">deprecated: {esc(deprecated["reason"])}</div>' if deprecated else ""
    pull = f"seqzoo zoo pull {name}@{e['digest']} --registry {url}"
    return (f"<tr><td><b>{esc(name)}</b>:{latest}{mark}<div>{esc(e.get('description') or '')}</div>{older}</td>"
            f"<td>{esc(e.get('task') or '')}<div class='small'>{esc(', '.join(e.get('classes') or []))}</div></td>"
            f"<td>{esc(e.get('species') or '-')}<div class='small'>{esc(e.get('assembly') or '')}</div></td>"
            f"<td>{_metrics(e)}</td><td>{_logos(root / name / latest, motifs)}<div class='small'>{matches}</div></td>"
            f"<td>{esc(e.get('license') or 'not stated')}</td>"
            f"<td><code>{esc(e['digest'])}</code><div><code>{esc(pull)}</code></div></td></tr>")


def write_page(root: Path, index: dict, url: str | None = None) -> Path:
    """Write ``root/index.html`` for ``index`` (atomically); ``url`` is where the registry is served
    (for the pull commands; default the folder itself)."""
    url = url or str(root.resolve())
    rows = "\n".join(_row(root, name, model["versions"], url) for name, model in sorted(index["models"].items()))
    count = sum(len(m["versions"]) for m in index["models"].values())
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>seqzoo registry</title>"
            f"<style>{STYLE}</style></head><body><h1>seqzoo registry</h1>"
            f"<p>{len(index['models'])} models, {count} versions; index generated {html.escape(index.get('generated', ''))}."
            f" Pin a version by its digest: <code>seqzoo zoo pull NAME@sha256:... --registry {html.escape(url)}</code>, "
            f"then <code>seqzoo zoo verify NAME@sha256:...</code>.</p>"
            "<table><tr><th>model</th><th>task</th><th>species</th><th>test AUROC / AP</th><th>top motifs</th>"
            f"<th>licence</th><th>digest and pull</th></tr>\n{rows}\n</table></body></html>\n")
    return write_text(root / PAGE, page)
