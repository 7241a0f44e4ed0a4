"""The serving side never needs PyTorch: load a version and run its graphs where torch cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import importlib, importlib.abc, json, sys

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnx", "onnxscript"):  # as in a serving container
            raise ModuleNotFoundError(f"No module named {name!r} (blocked in this process)", name=name)
        return None

sys.meta_path.insert(0, Blocker())
import numpy as np
import onnxruntime as ort
from seqzoo.zoo.registry import open_zoo
from seqzoo.zoo.expect import check_embedded_cards, check_expect
from seqzoo.zoo.inputs import alphabet_from_dict
from seqzoo.cli import main
import pkgutil, seqzoo.serving, seqzoo.zoo, seqzoo.v1

# every module of the serving and zoo wings (and the wire stubs) imports with torch blocked
modules = [m.name for pkg in (seqzoo.serving, seqzoo.zoo, seqzoo.v1)
           for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in modules:
    importlib.import_module(name)
import seqzoo
assert callable(seqzoo.load) and callable(seqzoo.connect)

try:
    import torch
except ImportError as exc:
    blocked = str(exc)
else:
    raise SystemExit("torch was importable")

zoo = open_zoo(sys.argv[1])
mv = zoo.verify("pum2")
check_embedded_cards(mv.path, mv.card)
worst = check_expect(mv.path, mv.card)
alphabet = alphabet_from_dict(mv.card["input"]["alphabet"])
codes = alphabet.encode([e["sequence"] for e in mv.card["expect"]])
probs = ort.InferenceSession(str(mv.path / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"codes": codes})[0]
onehot = alphabet.one_hot(codes)
selector = np.zeros_like(probs); selector[:, 1] = 1
_, grad = ort.InferenceSession(str(mv.path / "grad.onnx")).run(None, {"onehot": onehot, "selector": selector})
alphas = ((np.arange(16) + 0.5) / 16).astype(np.float32)
ig = ort.InferenceSession(str(mv.path / "ig.onnx")).run(None, {"onehot": onehot, "alphas": alphas, "selector": selector})[0]
code = main(["zoo", "verify", "pum2", "--zoo", sys.argv[1], "--json"])
print(json.dumps({"blocked": blocked, "worst": worst, "probs": probs.tolist(), "grad_shape": list(grad.shape),
                  "ig_shape": list(ig.shape), "grad_abs": float(np.abs(grad).sum()), "cli": code, "modules": modules,
                  "torch_loaded": any(m == "torch" or m.startswith("torch.") for m in sys.modules)}))
"""


def test_load_and_run_without_torch(published_model):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(published_model.zoo_root)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "blocked" in result["blocked"] and result["torch_loaded"] is False
    assert result["cli"] == 0 and result["worst"] <= 1e-4
    assert {"seqzoo.serving.api", "seqzoo.serving.ops.score", "seqzoo.serving.ops.executors", "seqzoo.serving.server.app", "seqzoo.zoo.io.fasta",
            "seqzoo.zoo.remote"} <= set(result["modules"])
    expected = [e["probs"] for e in published_model.card["expect"]]
    assert all(abs(a - b) <= 1e-5 for row, want in zip(result["probs"], expected) for a, b in zip(row, want))
    assert result["grad_shape"] == [4, 200, 4] and result["ig_shape"] == [4, 200, 4]
    assert result["grad_abs"] > 0
