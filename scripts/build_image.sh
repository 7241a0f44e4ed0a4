#!/usr/bin/env bash
# Build the seqzoo server image without a Docker engine and without access to image registries.
#
#   scripts/build_image.sh [cpu|gpu]      (make image == scripts/build_image.sh cpu)
#
# 1. base image: a minimal Debian (mmdebstrap minbase bookworm + python3, python3-venv,
#    ca-certificates) imported with `podman import`, unless $BASE_IMAGE already exists;
# 2. wheels: the seqzoo wheel built from this tree plus every dependency downloaded from the
#    package index into build/image/wheels-<target> (pip download, binary wheels only, for the
#    base image's Python);
# 3. `podman build --network none`: the Dockerfile installs from those wheels with --no-index.
#
# Environment: PYTHON (a Python with pip; default .venv/bin/python), BASE_IMAGE (default
# localhost/seqzoo-base:bookworm), IMAGE (default localhost/seqzoo:<target>), SUITE (bookworm),
# ORT_GPU_VERSION (default: the CPU onnxruntime version in the wheel set).
set -euo pipefail

TARGET="${1:-cpu}"
case "$TARGET" in
  cpu|gpu) ;;
  *) echo "build_image.sh: unknown target '$TARGET' (expected cpu or gpu)" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
SUITE="${SUITE:-bookworm}"
BASE_IMAGE="${BASE_IMAGE:-localhost/seqzoo-base:$SUITE}"
IMAGE="${IMAGE:-localhost/seqzoo:$TARGET}"
OUT="$ROOT/build/image"
WHEELS="$OUT/wheels-cpu"
# wheels-gpu is only read by the gpu target; it exists (maybe empty) so every stage's COPY resolves
mkdir -p "$WHEELS" "$OUT/wheels-gpu"

log() { printf '[build_image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# Run pip quietly; print its output only when it fails (and keep its exit status).
pip_quiet() {
  local out
  if ! out="$("$PYTHON" -m pip "$@" 2>&1)"; then
    printf '%s\n' "$out" | grep -v '^WARNING: Location' >&2
    return 1
  fi
}

# ---- 1. the base image -------------------------------------------------------------------
if podman image exists "$BASE_IMAGE"; then
  log "base image $BASE_IMAGE exists"
else
  log "making base image $BASE_IMAGE with mmdebstrap ($SUITE, minbase)"
  tmp_tar="$(mktemp "$OUT/base.XXXXXX.tar")"
  trap 'rm -f "$tmp_tar"' EXIT
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$tmp_tar"
  podman import --quiet "$tmp_tar" "$BASE_IMAGE" >/dev/null
  rm -f "$tmp_tar"
  trap - EXIT
fi

# The wheels must match the base image's Python, not necessarily the one running this script.
# runc, and limits the sandbox accepts (crun's cgroup mode and higher limits are refused here).
RUN_FLAGS=(--runtime runc --ulimit nofile=16384:16384 --ulimit nproc=4096:4096)
PYVER="$(podman run --rm --network none "${RUN_FLAGS[@]}" "$BASE_IMAGE" \
  python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
ABI="cp${PYVER/./}"
PLATFORMS=()
for tag in manylinux1 manylinux2010 manylinux2014 manylinux_2_5 manylinux_2_12 manylinux_2_17 \
           manylinux_2_24 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34 manylinux_2_35 \
           manylinux_2_36 linux; do
  PLATFORMS+=(--platform "${tag}_x86_64")
done
PIP_TARGET_FLAGS=(--only-binary=:all: --python-version "$PYVER" --implementation cp
                  --abi "$ABI" --abi abi3 --abi none "${PLATFORMS[@]}" --platform any)

# ---- 2. wheels ---------------------------------------------------------------------------
log "building the seqzoo wheel"
rm -f "$WHEELS"/seqzoo-*.whl
rm -rf "$ROOT/build/lib" "$ROOT"/build/bdist.*   # setuptools never deletes stale files there
pip_quiet wheel --no-deps --no-build-isolation -w "$WHEELS" "$ROOT"
SEQZOO_WHEEL="$(ls "$WHEELS"/seqzoo-*.whl)"
SEQZOO_VERSION="$(basename "$SEQZOO_WHEEL" | cut -d- -f2)"
log "downloading dependency wheels for Python $PYVER into $WHEELS"
pip_quiet download -d "$WHEELS" "${PIP_TARGET_FLAGS[@]}" "$SEQZOO_WHEEL"

BUILD_ARGS=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "SEQZOO_VERSION=$SEQZOO_VERSION")
if [ "$TARGET" = gpu ]; then
  GPU_WHEELS="$OUT/wheels-gpu"
  mkdir -p "$GPU_WHEELS"
  ORT_GPU_VERSION="${ORT_GPU_VERSION:-$(ls "$WHEELS"/onnxruntime-*.whl | head -n1 | xargs basename | cut -d- -f2)}"
  log "downloading onnxruntime-gpu $ORT_GPU_VERSION with NVIDIA CUDA/cuDNN wheels into $GPU_WHEELS"
  pip_quiet download -d "$GPU_WHEELS" "${PIP_TARGET_FLAGS[@]}" "onnxruntime-gpu[cuda,cudnn]==$ORT_GPU_VERSION"
  BUILD_ARGS+=(--build-arg "ORT_GPU_VERSION=$ORT_GPU_VERSION")
fi

# ---- 3. the image ------------------------------------------------------------------------
log "podman build --target $TARGET -> $IMAGE (no network)"
start=$(date +%s)
podman build --quiet --format docker --network none "${RUN_FLAGS[@]}" \
  --target "$TARGET" "${BUILD_ARGS[@]}" -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" >/dev/null
log "built $IMAGE in $(( $(date +%s) - start )) s: $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"
# The build stages' images are left dangling by each build (about 1 GB each): drop them.
podman image prune --force >/dev/null
