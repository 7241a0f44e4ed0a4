"""Where a model came from: package versions and the git commit of the source tree, for its card."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("seqzoo", "torch", "numpy", "onnx", "onnxruntime", "ViennaRNA")


def provenance() -> dict:
    """``{"seqzoo", "python", "torch", "numpy", "onnx", "onnxruntime", "viennarna", "git_commit"}``
    (a package that is not installed is left out; ``git_commit`` is None outside a checkout)."""
    out = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            out[package.lower()] = version(package)
        except PackageNotFoundError:
            pass
    out["git_commit"] = git_commit()
    return out


def git_commit() -> str | None:
    """The HEAD commit of the checkout this file lives in, or None."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
