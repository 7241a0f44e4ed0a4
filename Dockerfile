# seqzoo server image: the serving install only (no PyTorch), a non-root user, grpc.health.v1
# HEALTHCHECK, SIGTERM drain.
#
#   scripts/build_image.sh            # CPU image  -> localhost/seqzoo:cpu  (make image)
#   scripts/build_image.sh gpu        # GPU image  -> localhost/seqzoo:gpu
#
# The build needs no network: BASE_IMAGE is a local Debian base (mmdebstrap + podman import) and
# every Python package is installed from wheels that build_image.sh downloaded beforehand into
# build/image/wheels-cpu (and build/image/wheels-gpu), with --no-index.
# Build with `--format docker`: the OCI image format has no HEALTHCHECK.
#
# Run: podman run -p 8500:8500 -v /path/to/zoo:/models:ro localhost/seqzoo:cpu
#      podman run -p 8500:8500 localhost/seqzoo:cpu --zoo /models --port 8500 --registry s3://bucket/zoo

ARG BASE_IMAGE=localhost/seqzoo-base:bookworm

# ---- build stages: a virtual environment under /opt/seqzoo, from local wheels only ----
FROM ${BASE_IMAGE} AS build-cpu
ARG SEQZOO_VERSION=0.1.0
COPY build/image/wheels-cpu /tmp/wheels
RUN python3 -m venv /opt/seqzoo \
    && /opt/seqzoo/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \
        "seqzoo==${SEQZOO_VERSION}" \
    && /opt/seqzoo/bin/python -c "import onnxruntime, grpc, seqzoo.serving, seqzoo.zoo" \
    && ! /opt/seqzoo/bin/python -c "import torch" 2>/dev/null

# The GPU build swaps the CPU onnxruntime for onnxruntime-gpu with NVIDIA's CUDA and cuDNN wheels
# (both distributions install the same `onnxruntime` module, so only one may be present).
FROM build-cpu AS build-gpu
ARG ORT_GPU_VERSION=1.31.1
COPY build/image/wheels-gpu /tmp/wheels-gpu
RUN /opt/seqzoo/bin/pip uninstall --yes onnxruntime \
    && /opt/seqzoo/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels-gpu \
        "onnxruntime-gpu[cuda,cudnn]==${ORT_GPU_VERSION}" \
    && /opt/seqzoo/bin/python -c "import onnxruntime as o; assert 'CUDAExecutionProvider' in o.get_available_providers()"

# ---- the runtime, shared by both targets ----
FROM ${BASE_IMAGE} AS runtime
# A fixed numeric uid/gid so that Kubernetes' runAsNonRoot can verify it and mounted zoos can be
# chowned to it. /models is where a zoo is mounted, or where --registry pulls land.
RUN groupadd --gid 10001 seqzoo \
    && useradd --uid 10001 --gid seqzoo --home-dir /home/seqzoo --create-home \
        --shell /usr/sbin/nologin seqzoo \
    && mkdir -p /models \
    && chown seqzoo:seqzoo /models
ENV PATH=/opt/seqzoo/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SEQZOO_ZOO=/models \
    SEQZOO_PORT=8500
WORKDIR /home/seqzoo
EXPOSE 8500
# Healthy = grpc.health.v1 answers SERVING (the server says so only after its models warmed up).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "seqzoo.serving.healthcheck"]
# Exec form: the server is PID 1 and receives SIGTERM itself, then drains in-flight requests.
STOPSIGNAL SIGTERM
ENTRYPOINT ["seqzoo", "serve"]
CMD ["--zoo", "/models", "--host", "0.0.0.0", "--port", "8500"]

FROM runtime AS gpu
# onnxruntime-gpu finds CUDA/cuDNN from NVIDIA's wheels through this path; the driver
# (libcuda.so) comes from the host through the NVIDIA container toolkit / device plugin.
ENV LD_LIBRARY_PATH=/opt/seqzoo/lib/python3.11/site-packages/nvidia/cu13/lib:/opt/seqzoo/lib/python3.11/site-packages/nvidia/cudnn/lib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build-gpu /opt/seqzoo /opt/seqzoo
USER 10001:10001

# The default target (last stage): the CPU image.
FROM runtime AS cpu
COPY --from=build-cpu /opt/seqzoo /opt/seqzoo
USER 10001:10001
