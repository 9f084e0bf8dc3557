# syntax=docker/dockerfile:1
# The zonal-operator image: `docker build -t zonal-operator:dev .` (or `make image`).
#
# Two stages: `build` makes the wheel and installs it with its dependencies into a virtualenv;
# the final stage is a fresh copy of the same base image plus that virtualenv only, so no
# compiler, pip cache or source tree ends up in it. It runs as the numeric non-root user 65532
# and needs no writable root filesystem (the chart mounts an emptyDir at /tmp).
#
# The base is pinned by version. Pin it by digest as well when publishing
# (python:3.11-slim-bookworm@sha256:...): the digest could not be looked up where this file was
# written (no registry access), so it is left to the release step:
#   docker buildx imagetools inspect python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only what the wheel is built from (see .dockerignore).
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /wheels/*.whl \
 && /opt/venv/bin/pip uninstall --yes setuptools pip \
 && /opt/venv/bin/zonal-operator version

FROM ${PYTHON_IMAGE}
# A passwd entry for 65532, so that libraries asking for the user name (getpass) get one.
RUN groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin nonroot
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so that Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 65532:65532
# Prometheus metrics and kopf's /healthz.
EXPOSE 8080 8081
ENTRYPOINT ["zonal-operator"]
CMD ["run", "--log-format=json"]
