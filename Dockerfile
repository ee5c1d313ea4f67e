# syntax=docker/dockerfile:1
# Images of the stack (docs/deploy.md). Final targets:
#   trainer       trains and exports the curriculum into /artifacts
#   model-server  TorchServe with every .mar, Java 17 and the handlers' dependencies (CUDA base by default)
#   gateway       the FastAPI gateway, without torch
#   loadtest      Locust and loadtests/ (k8s/loadtest/)
#   docker build --target model-server -t REGISTRY/torchserve-stack-model-server:TAG .
#   docker build --target model-server --build-arg VARIANT=cpu -t REGISTRY/torchserve-stack-model-server:TAG-cpu .
# Python installs go through docker/install.py and the model store through docker/build-model-store.sh, the
# scripts the tests run outside Docker.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# torch 2.14.1's CUDA wheels are built for CUDA 13.0 (docker/install.py's cu130 index; a test ties the two).
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04
ARG CPU_IMAGE=debian:bookworm-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.26
# cuda (GPU nodes) or cpu: picks the model server's base image, its torch build and the archives' deviceType.
ARG VARIANT=cuda

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS trainer
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY training/ training/
COPY serving/ serving/
COPY handlers/ handlers/
COPY loadtests/ loadtests/
# g++: AOTInductor compiles model.pt2 at export (the model server only loads it, and has no compiler).
# DL3008: apt versions come with the pinned base image's release (as in the model-server stage).
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*
RUN pip install --constraint requirements.lock . \
    && useradd --create-home --uid 10001 trainer \
    && mkdir /artifacts && chown trainer /artifacts
USER 10001
VOLUME ["/artifacts"]
ENTRYPOINT ["python", "-m", "training"]
CMD ["train", "--artifacts", "/artifacts", "--quiet"]

# Artifacts trained elsewhere (e.g. the full profile) come in with `--build-context artifacts=./artifacts`;
# by default this stage is empty and the model store's builder trains the quick profile itself.
FROM scratch AS artifacts

# Builder: trains what is missing and archives every model. Build stage only: it never ships.
FROM ${PYTHON_IMAGE} AS model-store
ARG VARIANT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY docker/ docker/
COPY training/ training/
COPY serving/ serving/
COPY handlers/ handlers/
COPY loadtests/ loadtests/
# Training runs on the build machine's CPU whatever the variant, so the builder takes the small CPU torch.
# g++: AOTInductor compiles each model.pt2 here, in a stage that never ships.
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*
RUN python docker/install.py builder --variant cpu
COPY --from=artifacts / /build/artifacts/
RUN sh docker/build-model-store.sh /build/artifacts /build/model-store "$(if [ "$VARIANT" = cuda ]; then echo gpu; else echo cpu; fi)"

FROM ${CUDA_IMAGE} AS base-cuda
FROM ${CPU_IMAGE} AS base-cpu

# Python 3.11 (a relocatable python-build-standalone, the same on Ubuntu and Debian) and the model server's
# virtual environment. Build stage only: uv stays here.
# DL3006 cannot see that base-${VARIANT} names one of the two stages above, whose images are tagged.
# hadolint ignore=DL3006
FROM base-${VARIANT} AS model-server-venv
ARG VARIANT
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=uv /uv /usr/local/bin/uv
RUN uv python install 3.11 && uv venv --seed --python 3.11 /opt/venv
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY docker/install.py docker/
COPY serving/ serving/
COPY handlers/ handlers/
RUN /opt/venv/bin/python docker/install.py model-server --variant "$VARIANT"

# hadolint ignore=DL3006
FROM base-${VARIANT} AS model-server
# Java 17 runs TorchServe's frontend; tini is PID 1: it forwards SIGTERM to the runtime and reaps orphans.
# DL3008: apt versions come with the pinned base image's release; pinning them breaks at every point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --home-dir /home/model-server model-server \
    && install -d -o 10001 -g 10001 -m 700 /var/lib/torchserve
COPY --from=model-server-venv /opt/python /opt/python
COPY --from=model-server-venv /opt/venv /opt/venv
COPY --from=model-store /build/model-store /opt/model-store
COPY docker/healthcheck.py /opt/docker/healthcheck.py
# Paths only: how TorchServe listens and whether it checks tokens is the deployment's choice (k8s ConfigMap,
# compose.yaml), so an image run without them stays on loopback with token authorization on.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TS_MODEL_STORE=/opt/model-store \
    TS_HOME=/var/lib/torchserve
USER 10001
WORKDIR /home/model-server
EXPOSE 8080 8082
# /ping answers 200 once every model has its minimum of healthy workers; loading takes up to a few minutes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "/opt/docker/healthcheck.py", "model-server"]
ENTRYPOINT ["/usr/bin/tini", "--", "python", "-m", "serving.modelserver"]
CMD ["run"]

FROM ${PYTHON_IMAGE} AS gateway-venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY docker/install.py docker/
COPY serving/ serving/
# The gateway frames coalesced requests with handlers/envelope.py (standard library only).
COPY handlers/ handlers/
RUN /opt/venv/bin/python docker/install.py gateway

FROM ${PYTHON_IMAGE} AS gateway
RUN useradd --uid 10001 --create-home --home-dir /home/gateway gateway
COPY --from=gateway-venv /opt/venv /opt/venv
# The catalog: the gateway reads each archive's signature, metrics and model card (never the weights' code).
COPY --from=model-store /build/model-store /opt/model-store
COPY docker/healthcheck.py /opt/docker/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_MODEL_STORE=/opt/model-store
USER 10001
WORKDIR /home/gateway
EXPOSE 8000 8001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/opt/docker/healthcheck.py", "gateway"]
# uvicorn handles SIGTERM itself (drains, then exits) and starts no child processes, so no init is needed.
ENTRYPOINT ["python", "-m", "serving.gateway"]

FROM ${PYTHON_IMAGE} AS loadtest-venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY docker/install.py docker/
RUN /opt/venv/bin/python docker/install.py loadtest

FROM ${PYTHON_IMAGE} AS loadtest
RUN useradd --uid 10001 --create-home --home-dir /home/locust locust
COPY --from=loadtest-venv /opt/venv /opt/venv
COPY loadtests/ /opt/loadtests/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /home/locust
EXPOSE 8089 5557
# A load generator, not a service: the Locust master's Kubernetes probes watch its web UI instead.
HEALTHCHECK NONE
ENTRYPOINT ["locust"]
CMD ["-f", "/opt/loadtests/locustfile.py"]
