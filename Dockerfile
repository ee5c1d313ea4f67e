# syntax=docker/dockerfile:1
# Images of the stack. Today: `trainer`, which trains and exports the curriculum into /artifacts.
# The model-server and gateway targets are added with the deployment issue (#6).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS trainer
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY training/ training/
COPY serving/ serving/
COPY handlers/ handlers/
COPY loadtests/ loadtests/
RUN pip install . \
    && useradd --create-home --uid 10001 trainer \
    && mkdir /artifacts && chown trainer /artifacts
USER 10001
VOLUME ["/artifacts"]
ENTRYPOINT ["python", "-m", "training"]
CMD ["train", "--artifacts", "/artifacts", "--quiet"]
