"""benchmarks/gpu.sh, the GPU check, in its CPU dry-run mode: every step it takes on a GPU machine
(providers, engine forward/IG/ISM, the matmul ceiling, the server, training) runs here, small, so
the script cannot rot while no GPU is lent."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


def test_gpu_check_dry_run(published_model, tmp_path):
    out = tmp_path / "gpu.md"
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), "--dry-run", "--zoo",
                             str(published_model.zoo_root), "--out", str(out)], capture_output=True, text=True,
                            env=env, cwd=REPO, check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = out.read_text()
    assert "providers" in result.stdout and "CPUExecutionProvider" in report and "DRY RUN" in report
    for line in ("| 256 |", "Integrated gradients", "In-silico mutagenesis", "matrix-multiply rate",
                 "`seqzoo serve --device cpu`", "0 errors", "`seqzoo train` PUM2 on `cpu`: 1 epochs"):
        assert line in report, line
    assert not (REPO / "BENCHMARKS.md").read_text().count("DRY RUN")  # never written into BENCHMARKS.md
