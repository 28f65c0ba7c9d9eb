# syntax=docker/dockerfile:1
# Two stages: "build" installs the pinned, hashed requirements.lock and the
# project into a virtualenv; the runtime stage copies only that virtualenv
# (no compilers, no pip cache, no source tree beyond the installed package).
# Refresh the lock with scripts/lock; the image never resolves versions itself.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY feed ./feed
COPY workers ./workers
COPY web ./web
COPY newsfeed ./newsfeed
# Served at /openapi.yaml and /api/docs (web/api_docs.py reads it from the package).
COPY docs/openapi.yaml ./web/openapi.yaml
RUN /opt/venv/bin/pip install --no-deps . && /opt/venv/bin/newsfeed --help >/dev/null

FROM python:3.11-slim AS runtime
RUN useradd --system --create-home --home-dir /home/newsfeed newsfeed
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /home/newsfeed
USER newsfeed
EXPOSE 8000
# The web process's readiness (Redis reachable, app serving). The worker
# service overrides it with the heartbeat check (see docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["newsfeed", "healthcheck", "web", "--port", "8000"]
CMD ["newsfeed", "web", "--host", "0.0.0.0", "--port", "8000"]
