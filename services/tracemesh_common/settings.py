"""The standard OTEL_* variables that tracemesh reads itself; the SDK reads the rest directly."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Literal

from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from pydantic import AfterValidator, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracemesh_common.propagation import DEFAULT_PROPAGATORS

# What the committed deployment files put where a secret goes; a service never starts with it.
PLACEHOLDER = "CHANGE-ME"


# docs-region: template-placeholder
def no_placeholder(url: str) -> str:
    # The committed Kubernetes Secret holds CHANGE-ME where the password goes: refuse to start with it
    # rather than fail later with an authentication error, or worse, run on a guessable password.
    if PLACEHOLDER in url:
        raise ValueError(f"still holds the placeholder {PLACEHOLDER}: set the real database URL")
    return url


# A service's database URL: any SQLAlchemy async URL (sqlite+aiosqlite:///path.db or
# postgresql+asyncpg://user@host/db), never one that still holds the placeholder.
DatabaseUrl = Annotated[str, AfterValidator(no_placeholder)]
# docs-endregion: template-placeholder

# Values of OTEL_TRACES_EXPORTER as the specification names them.
TRACES_EXPORTERS = {"otlp", "zipkin", "console", "none"}

# Standard variables the OpenTelemetry SDK and its exporters read directly (prefixes end in "_").
# Deployment files may set these and the fields of TelemetrySettings, and no other OTEL_* variable.
SDK_VARIABLES = (
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_",
    "OTEL_EXPORTER_OTLP_",
    "OTEL_EXPORTER_ZIPKIN_",
    "OTEL_SPAN_",
    "OTEL_ATTRIBUTE_",
)


class TelemetrySettings(BaseSettings):
    """Tracing switches. Read by the SDK itself, and so not repeated here: OTEL_SERVICE_NAME,
    OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT (and the rest of OTEL_EXPORTER_*),
    OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG and OTEL_BSP_*."""

    model_config = SettingsConfigDict(env_prefix="OTEL_", extra="ignore")

    # true: no provider, no exporter and no instrumentation at all (the untraced baseline).
    sdk_disabled: bool = False
    traces_exporter: str = "otlp"
    exporter_otlp_protocol: Literal["grpc", "http/protobuf"] = "grpc"
    propagators: str = DEFAULT_PROPAGATORS
    # How the OTLP/gRPC exporter encodes spans: "stock" is the SDK exporter as it ships; "fast" (an opt-in)
    # writes protobuf's wire format directly and reuses what repeats (fast_otlp.py, same bytes on the wire).
    otlp_encoder: Literal["stock", "fast"] = Field(default="stock", validation_alias="TRACEMESH_OTLP_ENCODER")
    # tracemesh exports traces only; its logs go to stderr with trace ids in every line. These exist so
    # that a deployment can say so explicitly (as Jaeger accepts traces only), and anything else fails.
    logs_exporter: Literal["none"] = "none"
    metrics_exporter: Literal["none"] = "none"

    @field_validator("traces_exporter")
    @classmethod
    def _known_exporters(cls, value: str) -> str:
        names = {name.strip() for name in value.split(",") if name.strip()}
        unknown = names - TRACES_EXPORTERS
        if unknown or not names:
            raise ValueError(f"unknown exporter(s) {sorted(unknown)}; choose from {sorted(TRACES_EXPORTERS)}")
        if "none" in names and len(names) > 1:
            raise ValueError("'none' cannot be combined with other exporters")
        return value

    def exporter_names(self) -> list[str]:
        names = [name.strip() for name in self.traces_exporter.split(",") if name.strip()]
        return [] if names == ["none"] else names


def resource_for(service_name: str) -> Resource:
    """What a process is, on every span it exports: service.name, service.version and the deployment
    environment; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override each."""
    # docs-region: template-resource
    ours = {"service.name": service_name, "service.version": _version()}
    # Resource.create lets these win over the environment; merging the environment on top lets an
    # operator's OTEL_* variables win instead.
    resource = Resource.create(ours | {"deployment.environment.name": "development"})
    resource = resource.merge(OTELResourceDetector().detect())
    # Many trace UIs still key on the older deployment.environment: it follows the current name.
    return Resource({"deployment.environment": resource.attributes["deployment.environment.name"]}).merge(
        resource
    )
    # docs-endregion: template-resource


def _version() -> str:
    try:
        return version("tracemesh")  # the distribution's name in pyproject.toml: rename both together
    except PackageNotFoundError:
        return "0.0.0"
