"""A Triton model repository from zoo versions (``seqzoo zoo export-triton``).

A zoo already has Triton's shape, ``<name>/<version>/model.onnx``; what Triton also needs is
``<name>/config.pbtxt``. Each exported name gets:

- ``config.pbtxt``: platform ``onnxruntime_onnx``, ``max_batch_size``, input ``codes``
  (TYPE_UINT8, dims ``[L]``, or ``[-1]`` for a model of any length) and output ``probs``
  (TYPE_FP32, dims ``[C]``, with ``label_filename`` so Triton's classification extension names
  the classes), dynamic batching with preferred batch sizes and a queue delay, and a version
  policy that serves exactly the exported versions;
- ``labels.txt``: the classes, one per line, in the output's order;
- ``<version>/model.onnx`` and ``<version>/card.json`` (the card beside the graph it describes), and
  ``<version>/weights.bin``, the parameters model.onnx reads as ONNX external data.

Versions of one name must share length and classes (one config describes them all). The
repository is written under a temporary name and renamed: complete or absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.atomic import temporary_name

PLATFORM = "onnxruntime_onnx"
PREFERRED = (256, 1024)
MAX_BATCH = 4096
QUEUE_DELAY_US = 2000


def config_pbtxt(name: str, versions: list[int], length: int | None, classes: list[str],
                 max_batch: int = MAX_BATCH, preferred: tuple[int, ...] = PREFERRED,
                 queue_delay_us: int = QUEUE_DELAY_US) -> str:
    """Triton's model configuration (protobuf text format) for one zoo name."""
    dims = length if length else -1
    sizes = ", ".join(str(p) for p in preferred)
    return (f'name: "{name}"\n'
            f'platform: "{PLATFORM}"\n'
            f"max_batch_size: {max_batch}\n"
            f"version_policy: {{ specific: {{ versions: [ {', '.join(str(v) for v in versions)} ] }} }}\n"
            f'input [\n  {{\n    name: "codes"\n    data_type: TYPE_UINT8\n    dims: [ {dims} ]\n  }}\n]\n'
            f'output [\n  {{\n    name: "probs"\n    data_type: TYPE_FP32\n    dims: [ {len(classes)} ]\n'
            f'    label_filename: "labels.txt"\n  }}\n]\n'
            f"dynamic_batching {{\n  preferred_batch_size: [ {sizes} ]\n"
            f"  max_queue_delay_microseconds: {queue_delay_us}\n}}\n")


def _shape(mv) -> tuple[int | None, list[str]]:
    """(input length or None, classes) of a version; structure models' product codes are uint8
    codes too, so a Triton client sends them as it sends plain codes."""
    return mv.card["input"].get("length") or None, list(mv.card["classes"])


def export_repository(versions: list, out: str | os.PathLike, max_batch: int = MAX_BATCH,
                      preferred: tuple[int, ...] = PREFERRED, queue_delay_us: int = QUEUE_DELAY_US) -> dict:
    """Write a Triton model repository of verified zoo ``versions`` (ModelVersions) into ``out``.

    ``out`` may be an existing repository (other models are left alone) but a model folder of
    the same name is never written over.

    Returns
    -------
    dict
        name -> {"versions": [...], "length": L or None, "classes": [...]}.
    """
    if max_batch < 1 or any(p < 1 or p > max_batch for p in preferred):
        raise InputError(f"preferred batch sizes {list(preferred)} must lie in 1..max_batch_size ({max_batch})")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    by_name: dict[str, list] = {}
    for mv in versions:
        by_name.setdefault(mv.name, []).append(mv)
    written = {}
    for name, group in by_name.items():
        shapes = {_shape(mv)[0] for mv in group}, {tuple(_shape(mv)[1]) for mv in group}
        if len(shapes[0]) > 1 or len(shapes[1]) > 1:
            raise InputError(f"{name}: versions {sorted(mv.version for mv in group)} differ in length or classes; "
                             "export them to separate repositories")
        if (out / name).exists():
            raise InputError(f"{out / name}: the repository already has a model {name!r} (never written over)")
        length, classes = _shape(group[0])
        numbers = sorted({mv.version for mv in group})
        written[name] = {"versions": numbers, "length": length, "classes": classes}
    out.mkdir(parents=True, exist_ok=True)
    for name, info in written.items():
        staging = temporary_name(out / name)
        try:
            staging.mkdir()
            for mv in by_name[name]:
                folder = staging / str(mv.version)
                folder.mkdir(exist_ok=True)
                for file in ("model.onnx", "card.json", "weights.bin"):  # weights.bin: the graphs' shared
                    if (mv.path / file).is_file():  # parameters (ONNX external data), where the version has it
                        shutil.copyfile(mv.path / file, folder / file)
            (staging / "labels.txt").write_text("".join(f"{c}\n" for c in info["classes"]))
            (staging / "config.pbtxt").write_text(config_pbtxt(name, info["versions"], info["length"],
                                                               info["classes"], max_batch, preferred, queue_delay_us))
            os.replace(staging, out / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return written
