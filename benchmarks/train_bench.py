"""Training benchmark: PUM2 and QKI (pysster's CLIP-seq sets) and the FOXO1 exercise.

For each set and seed, one ``seqzoo train`` run sequence-only and one with ``--structure``
(annotated); folding is timed once on its own with an empty cache, so the structure runs read
their folds from the cache and their wall time is training alone. FOXO1: 20,000 simulated
sequences of 100 nt, half for training. Each run is a subprocess; its wall time and peak
resident memory (``os.wait4``) are measured here, its metrics come from its ``--json`` line.
Results are written into BENCHMARKS.md after every run, so an interrupted benchmark keeps
what finished.

    .venv/bin/python benchmarks/train_bench.py [--sets pum2,qki] [--seeds 0,1,2]
        [--modes sequence,structure] [--no-foxo1] [--device auto] [--resume]
        [--redo-foxo1] [--foxo1-args "--kernel-len 12"]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from record import record

ROOT = Path(__file__).resolve().parent.parent
RBP = ROOT / "datasets" / "rbp"
WORK = ROOT / ".bench" / "train"
SEQZOO = [sys.executable, "-m", "seqzoo"]
PUBLISHED = {"pum2": (0.945, 0.927), "qki": (0.966, 0.954)}
FOXO1 = ROOT / "zoo" / "resources" / "motifs" / "HOCOMOCO_v11_FOXO1.meme"


def bayes_accuracy(run_dir: Path) -> float:
    """Accuracy of the Bayes-optimal rule on a FOXO1 run's test split (data.npz, classes motif, background).

    The motif sits at the centre and the background is uniform, so the optimal classifier is the
    log-likelihood ratio of the centre window under the PWM against 1/4 per base, positive above 0.
    """
    import numpy as np
    from seqzoo.training.simulate import pick_motifs

    pwm = pick_motifs(FOXO1)[1][0].pwm
    with np.load(run_dir / "data.npz") as data:
        codes, motif = data["codes"], data["labels"][:, 0] == 1
    start = (codes.shape[1] - len(pwm)) // 2
    window = codes[:, start:start + len(pwm)].astype(np.int64)
    llr = np.log(pwm / 0.25)[np.arange(len(pwm)), window].sum(axis=1)
    return float(((llr > 0) == motif).mean())


def run_measured(argv: list[str], env: dict | None = None) -> tuple[dict, float, float]:
    """Run a seqzoo command: (its --json object, wall seconds, the child's own peak RSS MiB from os.wait4)."""
    start = time.perf_counter()
    out_path, err_path = WORK / "stdout.txt", WORK / "stderr.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = err_path.read_text().strip().splitlines()[-1:] if err_path.exists() else []
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {tail}")
    return json.loads(out_path.read_text().strip().splitlines()[-1]), wall, usage.ru_maxrss / 1024


def rbp_argv(name: str, seed: int, structure: bool, out: Path, device: str) -> list[str]:
    argv = [*SEQZOO, "train", "--name", f"{name}-bench", "--alphabet", "rna", "--seed", str(seed), "--quiet",
            "--json", "--force", "--no-publish", "--device", device, "--out", str(out)]
    for label, cls in (("positive", name), ("negative", "other")):
        argv += ["--class", f"{cls}={RBP / f'{name}.train.{label}.fasta.gz'}",
                 "--test-class", f"{cls}={RBP / f'{name}.test.{label}.fasta.gz'}"]
    return argv + (["--structure", "annotated"] if structure else [])


def fold_once(name: str, cache: Path) -> tuple[float, int, int]:
    """Fold every sequence of a set with an empty cache: (seconds, records, distinct sequences)."""
    code = ("import sys, time; from seqzoo.zoo.io.fasta import read_fasta; from seqzoo.zoo.structure import fold;"
            "seqs=[r.sequence for p in sys.argv[1:] for r in read_fasta(p)];"
            "t=time.perf_counter(); fold(seqs); print(time.perf_counter()-t, len(seqs), len(set(seqs)))")
    files = [str(RBP / f"{name}.{s}.{c}.fasta.gz") for s in ("train", "test") for c in ("positive", "negative")]
    shutil.rmtree(cache, ignore_errors=True)
    out = subprocess.run([sys.executable, "-c", code, *files], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "SEQZOO_CACHE": str(cache)})
    seconds, records, distinct = out.stdout.split()
    return float(seconds), int(records), int(distinct)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def body(rows: list[dict], folds: dict, foxo: dict | None, load: str, device: str) -> str:
    lines = [f"Load averages (1, 5, 15 min) at the start: {load}, on 2 cores; the runs went one at a time, "
             "nothing else heavy running. Device: " + device + ".", "",
             "| set | mode | seed | test AUROC | test AP | accuracy | epochs (best) | wall s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['mode']} | {r['seed']} | {r['auroc']:.4f} | {r['ap']:.4f} | "
                     f"{r['accuracy']:.4f} | {r['epochs']} ({r['best_epoch']}) | {r['wall']:.1f} | {r['rss']:.0f} |")
    lines += ["", "Means over seeds (published pysster: PUM2 0.945 / AP 0.927, QKI 0.966 / AP 0.954):", "",
              "| set | mode | seeds | mean test AUROC | mean AP | mean wall s | target AUROC | met |",
              "|---|---|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r["set"], r["mode"]) for r in rows):
        group = [r for r in rows if (r["set"], r["mode"]) == key]
        auc = mean([r["auroc"] for r in group])
        target = PUBLISHED[key[0]][0]
        lines.append(f"| {key[0]} | {key[1]} | {len(group)} | {auc:.4f} | {mean([r['ap'] for r in group]):.4f} | "
                     f"{mean([r['wall'] for r in group]):.1f} | {target} | {'yes' if auc >= target else 'no'} |")
    if folds:
        lines += ["", ("Folding (ViennaRNA MFE, process pool on all cores, empty cache; the structure runs above "
                       "then read the cache, so their wall time excludes folding):"), ""]
        for name, (seconds, records, distinct) in folds.items():
            lines.append(f"- {name}: {records} records, {distinct} distinct sequences folded in {seconds:.1f} s "
                         f"({1000 * seconds / max(distinct, 1):.1f} ms per sequence wall)")
    if foxo:
        lines += ["", (f"FOXO1 exercise (`seqzoo simulate --motif zoo/resources/motifs/HOCOMOCO_v11_FOXO1.meme "
                  f"--n 20000 --length 100 --seed 0`, trained with `--test-fraction 0.5"
                  f"{' ' + foxo['args'] if foxo.get('args') else ''}`): test accuracy "
                  f"{foxo['accuracy']:.4f} (target 0.975; Bayes-optimal 0.978"
                  f"{', on this test split {:.4f}'.format(foxo['bayes']) if 'bayes' in foxo else ''}), "
                  f"AUROC {foxo['auroc']:.4f}, "
                  f"wall {foxo['wall']:.1f} s, peak RSS {foxo['rss']:.0f} MiB.")]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--sets", default="pum2,qki")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--modes", default="sequence,structure")
    parser.add_argument("--no-foxo1", action="store_true")
    parser.add_argument("--foxo1-args", default="", help="extra `seqzoo train` arguments for the FOXO1 run")
    parser.add_argument("--redo-foxo1", action="store_true", help="with --resume: run FOXO1 again")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in .bench/train/rows.jsonl")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    cache = WORK / "cache"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    command = "python benchmarks/train_bench.py " + shlex.join(sys.argv[1:])
    device_name = "CUDA" if args.device.startswith("cuda") else "CPU (auto)"
    rows: list[dict] = []
    folds: dict = {}
    foxo = None
    modes = args.modes.split(",")
    done_path = WORK / "rows.jsonl"
    if args.resume and done_path.exists():
        for line in done_path.read_text().splitlines():
            item = json.loads(line)
            if item.get("set") == "foxo1":
                foxo = None if args.redo_foxo1 else item["result"]
            elif item.get("set") == "fold":
                folds[item["name"]] = tuple(item["result"])
            else:
                rows.append(item)
    elif done_path.exists():
        done_path.unlink()

    def remember(item: dict) -> None:
        with open(done_path, "a") as f:
            f.write(json.dumps(item) + "\n")

    def save() -> None:
        record("train", "Training: PUM2, QKI, FOXO1", command, body(rows, folds, foxo, load, device_name))

    def run_foxo1() -> dict:
        sim = WORK / "foxo1"
        subprocess.run([*SEQZOO, "simulate", "--motif", str(FOXO1),
                        "--n", "20000", "--length", "100", "--seed", "0", "--out", str(sim)], cwd=ROOT, check=True,
                       capture_output=True)
        info, wall, rss = run_measured([*SEQZOO, "train", "--name", "foxo1-bench", "--class",
                                        f"motif={sim / 'positive.fa'}", "--class", f"background={sim / 'negative.fa'}",
                                        "--test-fraction", "0.5", "--seed", "0", "--quiet", "--json", "--force", "--no-publish",
                                        "--device", args.device, "--out", str(WORK / "foxo1-run"),
                                        *shlex.split(args.foxo1_args)])
        test = info["metrics"]["test"]
        return {"accuracy": test["accuracy"], "auroc": test["auroc"]["motif"], "wall": wall, "rss": rss,
                "args": args.foxo1_args, "bayes": bayes_accuracy(WORK / "foxo1-run")}

    # seed-major order, FOXO1 after the first seed: an interrupted benchmark still covers every target
    for mode in modes:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name in args.sets.split(","):
                if mode == "structure" and name not in folds:
                    folds[name] = fold_once(name, cache)
                    remember({"set": "fold", "name": name, "result": folds[name]})
                    save()
                if any((r["set"], r["mode"], r["seed"]) == (name, mode, seed) for r in rows):
                    continue
                out = WORK / f"{name}-{mode}-{seed}"
                info, wall, rss = run_measured(rbp_argv(name, seed, mode == "structure", out, args.device),
                                               {"SEQZOO_CACHE": str(cache)})
                card = json.loads((out / "card.json").read_text())
                test = info["metrics"]["test"]
                rows.append({"set": name, "mode": mode, "seed": seed, "auroc": test["auroc"][name],
                             "ap": test["ap"][name], "accuracy": test["accuracy"], "wall": wall, "rss": rss,
                             "epochs": card["training"]["epochs"], "best_epoch": card["training"]["best_epoch"]})
                print(json.dumps(rows[-1]), flush=True)
                remember(rows[-1])
                save()
            if foxo is None and not args.no_foxo1:
                foxo = run_foxo1()
                print(json.dumps(foxo), flush=True)
                remember({"set": "foxo1", "result": foxo})
                save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
