"""Interpretation benchmarks: does seqzoo find the motif it should, and how long does the report take?

Parts (each records its own BENCHMARKS.md section as soon as it finishes):

- ``foxo1``: the FOXO1 exercise (``seqzoo simulate`` with the HOCOMOCO FOXO1 motif, 20,000 x 100),
  a model trained with ``seqzoo train``, then ``interpret_run``: the most important kernel, the
  optimised class PWM and the attribution consensus are each matched against the planted motif
  (q-value among JASPAR 2024 + the planted motif) and against JASPAR 2024 (best hit).
- ``rbp``: PUM2 and QKI models on the CLIP sets (datasets/rbp), interpreted against ATtRACT; the
  time of ``seqzoo report RUN`` for PUM2.
- ``recovery``: 20 JASPAR motifs, each planted in its own simulated set (4,000 x 100); recovered
  when one of the 3 most important kernels or an attribution consensus motif matches the planted
  motif with q < 0.01.

Usage: ``python benchmarks/interpret_bench.py [foxo1] [rbp] [recovery] [--work DIR] [--reuse]``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import peak_rss_mib, record

REPO = Path(__file__).resolve().parent.parent
SEQZOO = [sys.executable, "-m", "seqzoo.cli"]
MOTIFS = REPO / "zoo" / "resources" / "motifs"
RBP = REPO / "datasets" / "rbp"
NOTE = "1-minute load average when this part ended: {load} (2 cores; above 2 means other work competed for them)."
DNA_MODEL = ["--conv-num", "1", "--kernel-num", "16", "--kernel-len", "14", "--epochs", "30", "--patience", "5"]


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def sh(cmd: list[str]) -> str:
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return out.stdout


REUSE = False  # --reuse: keep finished simulations and trained runs (re-interpret only)


def train(name: str, classes: list[tuple[str, Path]], out: Path, extra: list[str], tests=()) -> dict:
    if REUSE and (out / "card.json").is_file():
        card = json.loads((out / "card.json").read_text())
        return {"metrics": card["metrics"], "wall": card["training"]["seconds"]}
    cmd = SEQZOO + ["train", "--name", name, "--out", str(out), "--force", "--quiet", "--json", "--threads", "2",
                    "--no-publish"]
    for label, path in classes:
        cmd += ["--class", f"{label}={path}"]
    for label, path in tests:
        cmd += ["--test-class", f"{label}={path}"]
    t = time.perf_counter()
    info = json.loads(sh(cmd + extra).strip().splitlines()[-1])
    info["wall"] = time.perf_counter() - t
    return info


def simulate(meme: Path, motif_id: str | None, n: int, out: Path, seed: int) -> None:
    if REUSE and (out / "positive.fa").is_file():
        return
    cmd = SEQZOO + ["simulate", "--motif", str(meme), "--n", str(n), "--length", "100", "--seed", str(seed),
                    "--out", str(out)]
    if motif_id:
        cmd += ["--motif-id", motif_id]
    sh(cmd)


def planted_q(pwms: list[np.ndarray], target: np.ndarray) -> tuple[list[float], list[dict]]:
    from seqzoo.training.motif_match import match_to_target

    if not pwms:
        return [], []
    q, best = match_to_target(pwms, target, "ACGT", "jaspar2024")
    return [float(v) for v in q], best


def part_foxo1(work: Path) -> None:
    from seqzoo.training.interpret import interpret_run
    from seqzoo.zoo.motifs_io import read_meme

    meme = MOTIFS / "HOCOMOCO_v11_FOXO1.meme"
    sim = work / "foxo1_sim"
    simulate(meme, None, 20000, sim, 0)
    run = work / "foxo1_run"
    info = train("foxo1", [("negative", sim / "negative.fa"), ("positive", sim / "positive.fa")], run,
                 ["--alphabet", "dna"] + DNA_MODEL)
    t = time.perf_counter()
    result = interpret_run(run, work / "foxo1_interp", database="jaspar2024")
    seconds = time.perf_counter() - t
    s = result["summary"]
    top = s["kernels"][0]
    _, (target,) = read_meme(meme)
    _, motifs = read_meme(work / "foxo1_interp" / "motifs.meme")
    by_id = {m.name: m.pwm for m in motifs}
    rows = [("most important kernel", f"kernel_{top['kernel']}", top)]
    rows += [("optimised class PWM", o["id"], o) for o in s["optimised"]]
    rows += [("attribution consensus", c["id"], c) for c in s["consensus"]]
    q, best = planted_q([by_id[r[1]] for r in rows], target.pwm)
    lines = [(f"Model: `seqzoo train` 1 conv x 16 kernels of length 14 on {20000:,} x 100 "
              f"(test AUROC {info['metrics']['test']['auroc']['positive']:.4f}, training {info['wall']:.0f} s wall). "
              f"Interpretation of {s['sequences']} test sequences: {seconds:.1f} s wall "
              f"(stages: {', '.join(f'{k} {v:.1f}' for k, v in s['timings'].items())})."), "",
             "| motif | consensus | q vs planted FOXO1 (among JASPAR + planted) | best JASPAR 2024 hit | its q | pass |",
             "|---|---|---|---|---|---|"]
    for (what, mid, entry), qv, b in zip(rows, q, best):
        ok = qv < 0.01 and "FOX" in b["name"].upper()
        lines.append(f"| {what} ({mid}) | `{entry['consensus']}` | {qv:.2e} | {b['name']} ({b['id']}) | "
                     f"{b['q_value']:.2e} | {'yes' if ok else 'no'} |")
    lines += ["", NOTE.format(load=load()), f"Peak RSS {peak_rss_mib():.0f} MiB."]
    record("interpret-foxo1", "Interpretation: FOXO1 exercise (planted motif found by kernels, optimisation, IG)",
           "python benchmarks/interpret_bench.py foxo1", "\n".join(lines))


def part_rbp(work: Path) -> None:
    from seqzoo.training.interpret import interpret_run

    lines = [("| protein | test AUROC | top kernel | its best ATtRACT match (q) | attribution consensus | "
              "its match (q) | expected motif in top kernel / consensus |"), "|---|---|---|---|---|---|---|"]
    timing = ""
    for name, pattern in (("pum2", r"UGUA[ACU]AUA"), ("qki", r"ACUAA[CU]")):
        run = work / f"{name}_run"
        info = train(name, [("negative", RBP / f"{name}.train.negative.fasta.gz"),
                            ("positive", RBP / f"{name}.train.positive.fasta.gz")], run,
                     ["--alphabet", "rna"],
                     tests=[("negative", RBP / f"{name}.test.negative.fasta.gz"),
                            ("positive", RBP / f"{name}.test.positive.fasta.gz")])
        if name == "pum2":
            t = time.perf_counter()
            sh(SEQZOO + ["report", str(run), "--work", str(work / f"{name}_report"), "-o",
                         str(work / f"{name}_report" / "report.html")])
            timing = (f"`seqzoo report {name}_run` (interpretation + HTML) took {time.perf_counter() - t:.1f} s wall "
                      f"on this machine.")
            result = {"summary": json.loads((work / f"{name}_report" / "interpretation" /
                                             "interpretation.json").read_text())}
        else:
            result = interpret_run(run, work / f"{name}_interp")
        s = result["summary"]
        top = s["kernels"][0]
        cons = s["consensus"][0] if s["consensus"] else None

        def hit(entry):
            m = (entry or {}).get("matches") or []
            return f"{m[0]['name']} ({m[0]['q_value']:.1e})" if m else "-"

        # the pattern may sit anywhere inside the (longer) consensus; lower-case letters are weak columns
        found_k = bool(re.search(pattern, top["consensus"].upper()))
        found_c = bool(cons and re.search(pattern, cons["consensus"].upper()))
        lines.append(f"| {name.upper()} | {info['metrics']['test']['auroc']['positive']:.3f} | "
                     f"`{top['consensus']}` (k{top['kernel']}) | {hit(top)} | `{cons['consensus'] if cons else '-'}` "
                     f"| {hit(cons)} | {pattern}: {'yes' if found_k else 'no'} / {'yes' if found_c else 'no'} |")
    p = json.loads((work / "pum2_run" / "config.json").read_text())["model"]
    lines += ["", (f"Models: `seqzoo train` defaults ({p['conv_num']} conv x {p['kernel_num']} kernels of length "
                   f"{p['kernel_len']}), sequence only."), timing,
              NOTE.format(load=load())]
    record("interpret-rbp", "Interpretation: PUM2 and QKI motifs, and the time of the PUM2 report",
           "python benchmarks/interpret_bench.py rbp", "\n".join(lines))


def recovery_motifs(count: int = 20) -> list:
    """20 JASPAR motifs of 8-14 positions with >= 10 bits, distinct factors, spread over the file."""
    from seqzoo.zoo.logos import information_content
    from seqzoo.zoo.motifs_io import read_meme

    _, motifs = read_meme(MOTIFS / "JASPAR2024_CORE_vertebrates.meme")
    seen, pool = set(), []
    for m in motifs:
        family = m.description.upper()[:3]
        if 8 <= m.width <= 14 and information_content(m.pwm).sum() >= 10 and family not in seen and "::" not in m.description:
            seen.add(family)
            pool.append(m)
    step = max(1, len(pool) // count)
    return pool[::step][:count]


def part_recovery(work: Path) -> None:
    from seqzoo.training.interpret import interpret_run
    from seqzoo.zoo.motifs_io import read_meme

    meme = MOTIFS / "JASPAR2024_CORE_vertebrates.meme"
    rows, recovered, started = [], 0, time.perf_counter()
    for i, motif in enumerate(recovery_motifs()):
        sim = work / f"rec_{motif.name}"
        simulate(meme, motif.name, 4000, sim, i)
        run = work / f"rec_{motif.name}_run"
        info = train(motif.name.lower(), [("negative", sim / "negative.fa"), ("positive", sim / "positive.fa")], run,
                     ["--alphabet", "dna"] + DNA_MODEL)
        out = work / f"rec_{motif.name}_interp"
        s = interpret_run(run, out, database="jaspar2024", top_kernels=0, optimise_steps=1, optimise_starts=1)["summary"]
        _, learned = read_meme(out / "motifs.meme")
        by_id = {m.name: m.pwm for m in learned}
        ids = [f"kernel_{k['kernel']}" for k in s["kernels"][:3]] + [c["id"] for c in s["consensus"]]
        q, _ = planted_q([by_id[x] for x in ids], motif.pwm)
        best = int(np.argmin(q))
        ok = q[best] < 0.01
        recovered += ok
        rows.append(f"| {motif.name} {motif.description} | {motif.width} | "
                    f"{info['metrics']['test']['auroc']['positive']:.3f} | {ids[best]} | {q[best]:.1e} | "
                    f"{'yes' if ok else 'no'} |")
        body = [(f"Recovered: **{recovered} / {len(rows)}** (target >= 18 / 20). Each set: `seqzoo simulate` 4,000 x 100 "
                "(motif at the centre, forward strand), model: 1 conv x 16 kernels of length 14. Recovered when one "
                "of the 3 most important kernels or an attribution consensus motif matches the planted motif with "
                "q < 0.01 (TOMTOM via memelite among JASPAR 2024 + the planted motif). Optimisation skipped here."), "",
                "| planted motif | width | test AUROC | best learned motif | q | recovered |",
                "|---|---|---|---|---|---|", *rows, "",
                f"{time.perf_counter() - started:.0f} s wall for {len(rows)} motifs. " + NOTE.format(load=load())]
        record("interpret-recovery", "Interpretation: planted-motif recovery (20 JASPAR motifs)",
               "python benchmarks/interpret_bench.py recovery", "\n".join(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("parts", nargs="*", default=["foxo1", "rbp", "recovery"])
    parser.add_argument("--work", default="/tmp/seqzoo-interpret-bench")
    parser.add_argument("--reuse", action="store_true", help="reuse simulated sets and trained runs in --work")
    args = parser.parse_args()
    global REUSE
    REUSE = args.reuse
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        {"foxo1": part_foxo1, "rbp": part_rbp, "recovery": part_recovery}[part](work)
        print(f"{part}: done", flush=True)


if __name__ == "__main__":
    main()
