"""The gateway's errors: each knows its HTTP status and its code in the error body."""

from __future__ import annotations


class GatewayError(Exception):
    status_code = 500
    code = "internal"


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.code


class Conflict(GatewayError):
    status_code = 409
    code = "conflict"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.code


class InvalidRequest(GatewayError):
    status_code = 422
    code = "invalid_request"


class Unavailable(GatewayError):
    """orders (or something behind it) is down or too slow: try again later."""

    status_code = 503
    code = "unavailable"


class UpstreamFailure(GatewayError):
    """orders failed in a way the gateway cannot explain to the caller."""

    status_code = 502
    code = "upstream_failure"
