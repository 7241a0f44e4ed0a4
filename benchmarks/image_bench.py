"""The server image: build time, image sizes, and the time from `podman run` to SERVING.

    .venv/bin/python benchmarks/image_bench.py [--zoo .bench/zoo] [--no-build] [--fresh-base] [--runs 3]

Builds the CPU image with scripts/build_image.sh (timed; the base image and the wheel folder are
reused when present unless --fresh-base, so the usual number is the `podman build` of an image
whose Python environment changed), reads the sizes of the CPU, GPU and base images that exist,
then starts each server image ``--runs`` times with the zoo mounted read-only and times
``podman run`` -> grpc.health.v1 SERVING as seen from the host through the published port. The
GPU image is started with ``--device auto`` (on a machine without a GPU it falls back to the CPU
provider, so this measures its start-up, not CUDA). Writes the ``image`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from record import record

REPO = Path(__file__).resolve().parent.parent
RUN_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=16384:16384", "--ulimit", "nproc=4096:4096"]
IMAGES = {"cpu": "localhost/seqzoo:cpu", "gpu": "localhost/seqzoo:gpu", "base": "localhost/seqzoo-base:bookworm"}


def podman(*args: str, check: bool = True) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check).stdout.strip()


def image_size(image: str) -> int | None:
    if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
        return None
    return int(podman("image", "inspect", "--format", "{{.Size}}", image))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readable_copy(zoo: Path) -> Path:
    """A world-readable copy of the zoo (the container's user is uid 10001)."""
    target = Path(tempfile.mkdtemp(prefix="seqzoo-bench-zoo-"))
    shutil.copytree(zoo, target / "zoo", ignore=shutil.ignore_patterns(".staging-*"))
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def time_to_serving(image: str, zoo: Path, timeout: float = 300) -> float:
    """Seconds from `podman run` to SERVING on the published port, then a SIGTERM stop."""
    from seqzoo.serving.client import SeqZooClient
    from seqzoo.zoo.errors import SeqzooError

    port = free_port()
    name = f"seqzoo-bench-{os.getpid()}-{port}"
    start = time.monotonic()
    podman("run", "-d", "--name", name, *RUN_FLAGS, "-p", f"127.0.0.1:{port}:{port}", "-v", f"{zoo}:/models:ro",
           image, "--zoo", "/models", "--port", str(port), "--poll-seconds", "0")
    try:
        with SeqZooClient(f"127.0.0.1:{port}") as client:
            try:
                client.wait_serving(timeout=timeout, poll=0.1)
            except SeqzooError:
                raise RuntimeError(f"{image} not SERVING after {timeout} s: {podman('logs', name, check=False)}")
        return time.monotonic() - start
    finally:
        podman("kill", "--signal", "TERM", name, check=False)
        podman("wait", name, check=False)
        podman("rm", "-f", name, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--no-build", action="store_true", help="measure the images that exist")
    parser.add_argument("--fresh-base", action="store_true", help="remake the base image with mmdebstrap too")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from serve_bench import ensure_model  # the shared PUM2 model of the serving benchmarks

    zoo = Path(args.zoo)
    ensure_model(zoo)
    load_before = os.getloadavg()
    lines = []
    if not args.no_build:
        if args.fresh_base:
            podman("rmi", "-f", IMAGES["base"], check=False)
        cached = "base image and wheel folder reused" if not args.fresh_base else "base image remade with mmdebstrap"
        start = time.monotonic()
        subprocess.run(["bash", str(REPO / "scripts" / "build_image.sh"), "cpu"], check=True)
        lines.append(f"- CPU image build (`scripts/build_image.sh cpu`, {cached}): "
                     f"**{time.monotonic() - start:.0f} s**")
    sizes = {k: image_size(v) for k, v in IMAGES.items()}
    rows = ["| image | size |", "|---|---|"]
    for key, size in sizes.items():
        rows.append(f"| `{IMAGES[key]}` | {'not built' if size is None else f'{size / 1e6:,.0f} MB'} |")
    copy = readable_copy(zoo)
    try:
        start_rows = ["| image | `podman run` -> SERVING, median (runs) |", "|---|---|"]
        for key in ("cpu", "gpu"):
            if sizes[key] is None:
                continue
            times = [time_to_serving(IMAGES[key], copy / "zoo") for _ in range(args.runs)]
            start_rows.append(f"| `{IMAGES[key]}` | **{statistics.median(times):.1f} s** "
                              f"({', '.join(f'{t:.1f}' for t in times)}) |")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    load_after = os.getloadavg()
    body = "\n".join([
        "The server image built offline (mmdebstrap base, local wheels, `podman build --network none`) and run",
        "with `podman --runtime runc run` and the PUM2 zoo mounted read-only. Start-up includes loading and",
        "warming the model; SERVING is asked through the published port with grpc.health.v1.",
        "",
        *rows, "", *start_rows, "", *lines,
        (f"- The CPU was shared with other engineers' work: load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (2 cores)."),
        "- The GPU image holds onnxruntime-gpu and NVIDIA's CUDA 13 / cuDNN 9 wheels; started here with",
        "  `--device auto` on a machine without a GPU it serves on the CPU provider (CUDA itself untested here).",
    ])
    record("image", "Server image: size, build time, start-up", "python benchmarks/image_bench.py", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
