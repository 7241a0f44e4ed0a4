"""Zoo benchmark: export time and artifact sizes of a real PUM2 model, pull + verify times, parity errors.

Trains PUM2 with ``seqzoo train`` (the full pysster training set, default architecture; or reuses
``--run DIR``), then measures: publish_run's steps (export of the three graphs, parity checks,
the rest), the graph sizes, the largest forward / gradient / IG errors against PyTorch over
several seeds and batch sizes, and the time to pull and verify the version from a
``python -m http.server`` on loopback and from moto's S3 server (median of ``--repeats``).
Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from record import peak_rss_mib, record

REPO = Path(__file__).resolve().parent.parent
RBP = REPO / "datasets" / "rbp"
S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def train(run_dir: Path, epochs: int, threads: int) -> float:
    argv = [sys.executable, "-m", "seqzoo", "train", "--name", "pum2", "--alphabet", "rna", "--seed", "0",
            "--epochs", str(epochs), "--threads", str(threads), "--quiet", "--json", "--no-publish",
            "--out", str(run_dir), "--force"]
    for label, cls in (("pum2", "positive"), ("other", "negative")):
        argv += ["--class", f"{label}={RBP / f'pum2.train.{cls}.fasta.gz'}",
                 "--test-class", f"{label}={RBP / f'pum2.test.{cls}.fasta.gz'}"]
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed_publish(run_dir: Path, zoo):
    """publish_run with each step timed (the steps are module functions, wrapped here)."""
    from seqzoo.training import publish

    times = {}
    for step in ("export_step", "interpretation_step", "card_step"):
        original = getattr(publish, step)

        def wrapper(*args, _original=original, _step=step, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                times[_step] = time.perf_counter() - start

        setattr(publish, step, wrapper)
    start = time.perf_counter()
    mv = publish.publish_run(run_dir, zoo, "pum2")
    times["total"] = time.perf_counter() - start
    return mv, times


def export_split(run_dir: Path) -> dict:
    """Export alone and parity alone, timed, on the same model."""
    from seqzoo.training.export import check_parity, export_graphs
    from seqzoo.training.models import load_run
    from seqzoo.training.publish import export_spec

    model, config = load_run(run_dir)
    spec = export_spec(model, config)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        export_graphs(model, spec, folder)
        export_s = time.perf_counter() - start
        start = time.perf_counter()
        check_parity(model, spec, folder)
        parity_s = time.perf_counter() - start
        worst = {"forward": 0.0, "gradient": 0.0, "ig": 0.0}
        for seed in range(3):
            errors = check_parity(model, spec, folder, seed=100 + seed, batches=(7, 64), steps=20)
            worst = {k: max(worst[k], errors[k]) for k in worst}
    return {"export_s": export_s, "parity_s": parity_s, "worst": worst}


def pull_times(ref: str, registry: str, repeats: int, **options) -> list[float]:
    from seqzoo.zoo.registry import open_zoo
    from seqzoo.zoo.remote import pull

    out = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            pull(ref, registry, open_zoo(cache), **options)
            out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--run", type=Path, help="reuse this PUM2 run directory instead of training")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from seqzoo.zoo.expect import check_expect
    from seqzoo.zoo.index import write_index
    from seqzoo.zoo.registry import open_zoo
    from seqzoo.zoo.remote import push

    work = Path(tempfile.mkdtemp(prefix="zoo-bench-"))
    try:
        run_dir = args.run or work / "run"
        train_s = None if args.run else train(run_dir, args.epochs, args.threads)
        run_card = json.loads((run_dir / "card.json").read_text())
        zoo = open_zoo(work / "zoo")
        mv, steps = timed_publish(run_dir, zoo)
        split = export_split(run_dir)
        sizes = {f: (mv.path / f).stat().st_size for f in ("model.onnx", "grad.onnx", "ig.onnx", "card.json")}
        total = sum(p.stat().st_size for p in mv.path.rglob("*") if p.is_file())
        start = time.perf_counter()
        zoo.verify("pum2")
        check_expect(mv.path, mv.card)
        verify_s = time.perf_counter() - start

        write_index(str(zoo.root))
        server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                                   "--directory", str(zoo.root)], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        try:
            url = f"http://127.0.0.1:{int(server.stdout.readline().split(' port ')[1].split()[0])}"
            http = pull_times(f"pum2@{mv.digest}", url, args.repeats)
        finally:
            server.terminate()
            server.wait()

        import s3fs
        from moto.server import ThreadedMotoServer

        os.environ.update(S3_ENV)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        try:
            host, port = moto.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True).mkdir("zoo-bench")
            start = time.perf_counter()
            push("pum2", "s3://zoo-bench/zoo", zoo, s3_endpoint=endpoint)
            push_s = time.perf_counter() - start
            s3 = pull_times(f"pum2@{mv.digest}", "s3://zoo-bench/zoo", args.repeats, s3_endpoint=endpoint)
        finally:
            moto.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    test = run_card.get("metrics", {}).get("test", {})
    auroc = (test.get("auroc") or {}).get("pum2")
    parity = mv.card["parity"]
    load = os.getloadavg()[0]
    kib = {k: v / 1024 for k, v in sizes.items()}
    body = f"""
The PUM2 model: `seqzoo train` on the full pysster PUM2 training set (7,776 sequences, 200 nt, RNA),
default architecture (2 x [conv 30 x 8, ReLU, max-pool 2], flatten, dense 100), seed 0, at most
{args.epochs} epochs, {args.threads} torch threads{f'; training took {train_s:.0f} s' if train_s else ''}; test AUROC
{auroc if auroc is None else f'{auroc:.3f}'}. CPU shared with other work (load average {load:.1f} on
{os.cpu_count()} cores at the end), so the times are upper bounds.

| step | seconds |
|---|---|
| `publish_run` total | {steps['total']:.1f} |
| export step (three graphs + parity check) | {steps['export_step']:.1f} |
| of which: export of model.onnx, grad.onnx, ig.onnx | {split['export_s']:.1f} |
| of which: parity check (batches 1 and 5, trained length; 8 IG steps) | {split['parity_s']:.1f} |
| interpretation step (motifs, report; issue 6) | {steps['interpretation_step']:.1f} |
| card step (expect entries through onnxruntime) | {steps['card_step']:.2f} |
| local verify (digests of every file + expect through onnxruntime) | {verify_s:.2f} |
| push to moto S3 (loopback) | {push_s:.2f} |
| pull + verify from `python -m http.server` (loopback), median of {args.repeats} | {statistics.median(http):.2f} (min {min(http):.2f}) |
| pull + verify from moto S3 (loopback), median of {args.repeats} | {statistics.median(s3):.2f} (min {min(s3):.2f}) |

Artifact sizes: model.onnx {kib['model.onnx']:.0f} KiB, grad.onnx {kib['grad.onnx']:.0f} KiB,
ig.onnx {kib['ig.onnx']:.0f} KiB, card.json {kib['card.json']:.1f} KiB; the whole version
{total / 2**20:.2f} MiB (with report.html and interpretation files).

Largest absolute errors of ONNX Runtime against PyTorch (tolerances 1e-5 / 1e-5 / 1e-3):

| check | forward | gradient | IG |
|---|---|---|---|
| at publish (card `parity`) | {parity['forward']:.2e} | {parity['gradient']:.2e} | {parity['ig']:.2e} |
| 3 more seeds, batches 7 and 64, 20 IG steps | {split['worst']['forward']:.2e} | {split['worst']['gradient']:.2e} | {split['worst']['ig']:.2e} |

Peak RSS of the benchmark process: {peak_rss_mib():.0f} MiB.
"""
    record("zoo", "Zoo: ONNX export, artifact sizes, pull + verify", "python benchmarks/zoo_bench.py", body)
    print(body)


if __name__ == "__main__":
    main()
