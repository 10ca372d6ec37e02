# One image for the three services; compose and Kubernetes choose the service with `python -m <service>`,
# the same entry points `make run` starts. The `load` target adds Locust for compose's load profile.
#   docker build -t tracemesh:0.1.0 .
#   docker build --target load -t tracemesh-load:0.1.0 .

# ---- build: a virtualenv with the locked dependencies and the services ----
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/tracemesh
WORKDIR /src
# Dependencies first, from the same lock as `make run`: this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN /opt/tracemesh/bin/pip install --requirement requirements.lock
# The generated gRPC code is committed under services/tracemesh, so it is copied like any other source.
COPY pyproject.toml README.md ./
COPY services ./services
RUN /opt/tracemesh/bin/pip install --no-deps .

# ---- build-load: the same virtualenv plus Locust and the contrib instrumentation of its HTTP client ----
FROM build AS build-load
COPY requirements-load.lock ./
RUN /opt/tracemesh/bin/pip install --requirement requirements-load.lock

# ---- base: a clean Python and an unprivileged user; each target below adds its virtualenv ----
FROM python:3.11.14-slim-bookworm AS base
ENV PATH=/opt/tracemesh/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin tracemesh
WORKDIR /home/tracemesh
# Exec form: the process is PID 1 and receives SIGTERM itself, so it drains and flushes its spans.
ENTRYPOINT ["python", "-m"]

# ---- load: the demo's load generator (python -m tracemesh_demo.loadgen, Locust's web UI on 8089) ----
FROM base AS load
COPY --from=build-load /opt/tracemesh /opt/tracemesh
USER 10001
EXPOSE 8089
CMD ["tracemesh_demo.loadgen"]

# ---- run (the default target, last): the services ----
FROM base AS run
COPY --from=build /opt/tracemesh /opt/tracemesh
USER 10001
CMD ["gateway"]
