#!/usr/bin/env bash
# The GPU check, first thing on a lent GPU machine: make the machine ready, then measure every
# CUDA path (benchmarks/gpu_bench.py) and write BENCHMARKS.md ("gpu").
#
#   benchmarks/gpu.sh [gpu_bench.py options]            # on the GPU machine (repository root)
#   benchmarks/gpu.sh --dry-run --zoo ZOO --out F.md    # CPU dry run (what the test suite runs)
#
# The GPU machine has no network. What it lacks travels in .gpu-wheels/ (ignored by git; name it
# in the device tool's `carry`, with .bench/zoo for the model): wheels, and wheels too large for
# one carry split into parts `<wheel>.part-aa`, `.part-ab`, ... (`split -b 60m`), joined here.
# ONNX Runtime's CUDA provider comes from onnxruntime-gpu when the machine's onnxruntime lacks it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=.gpu-wheels

if [ -d "$WHEELS" ]; then
    for first in "$WHEELS"/*.part-aa; do
        [ -e "$first" ] || continue
        whole="${first%.part-aa}"
        if [ ! -e "$whole" ]; then
            cat "${whole}".part-* > "$whole.tmp"
            mv "$whole.tmp" "$whole"
        fi
    done
    if compgen -G "$WHEELS/*.whl" > /dev/null; then
        "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" "$WHEELS"/*.whl
    fi
fi
if ! "$PY" -c "import seqzoo" 2> /dev/null; then
    if ! "$PY" -m pip install --quiet --no-deps --no-index --no-build-isolation -e . 2> /dev/null; then
        # no build backend offline: the package as a tree of links to the wings (seqzoo.<wing>)
        shadow=$(mktemp -d)/seqzoo
        mkdir -p "$shadow"
        for f in seqzoo/*.py; do ln -s "$PWD/$f" "$shadow/"; done
        for wing in zoo training serving; do ln -s "$PWD/$wing" "$shadow/$wing"; done
        ln -s "$PWD/protos/seqzoo/v1" "$shadow/v1"
        export PYTHONPATH="$(dirname "$shadow")${PYTHONPATH:+:$PYTHONPATH}"
        echo "seqzoo from links in $shadow (pip could not install it offline)"
    fi
fi
"$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
if [ "${1:-}" != "--dry-run" ] && command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
exec "$PY" benchmarks/gpu_bench.py "$@"
