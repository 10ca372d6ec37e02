# One image for the three services; compose and Kubernetes choose the service with `python -m <service>`,
# the same entry points `make run` starts.
#   docker build -t tracemesh:0.1.0 .

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

# ---- run: the virtualenv on a clean base, as an unprivileged user ----
FROM python:3.11.14-slim-bookworm
ENV PATH=/opt/tracemesh/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/tracemesh /opt/tracemesh
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin tracemesh
USER 10001
WORKDIR /home/tracemesh
# Exec form: the service is PID 1 and receives SIGTERM itself, so it drains and flushes its spans.
ENTRYPOINT ["python", "-m"]
CMD ["gateway"]
