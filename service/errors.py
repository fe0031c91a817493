"""One error shape everywhere, and the limits that produce some of them.

Every error body is {"detail": {"message": ..., "field": ...}}, except validation errors, which
keep FastAPI's list (each names its field in "loc") without the submitted values: a rejected
value may be a name or a source ID, and error bodies end up in vendors' logs.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.schemas.common import ErrorBody, ValidationErrorBody

__all__ = [
    "DATABASE_UNAVAILABLE",
    "ERROR_RESPONSES",
    "BodyLimitMiddleware",
    "api_error",
    "install_error_handlers",
]

DATABASE_UNAVAILABLE: Final = "database unavailable, retry later"

logger = logging.getLogger(__name__)

# For `responses=` on routers, so the OpenAPI document shows the error bodies.
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked X-API-Key."},
    403: {"model": ErrorBody, "description": "The key's role may not use this route."},
    413: {"model": ErrorBody, "description": "The request body or child list is too large."},
    # Both shapes: FastAPI's list when the request does not parse or fit its schema, and our
    # one message naming the field when a well-formed value is not acceptable (a month with no
    # features, an unknown hardship, a payload value out of the catalogue's range).
    422: {
        "model": ValidationErrorBody | ErrorBody,
        "description": "The request did not validate, or a value in it is not acceptable.",
    },
    503: {"model": ErrorBody, "description": "Database or audit log unavailable; retry later."},
}


def api_error(
    status_code: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> HTTPException:
    """An HTTPException carrying the service's error body."""
    return HTTPException(
        status_code=status_code, detail={"message": message, "field": field}, headers=headers
    )


def _body(message: str, field: str | None = None) -> dict[str, Any]:
    return {"detail": {"message": message, "field": field}}


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail
    if isinstance(detail, dict) and "message" in detail:
        content = {"detail": {"message": detail["message"], "field": detail.get("field")}}
    else:
        content = _body(str(detail))
    return JSONResponse(content, status_code=error.status_code, headers=error.headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    items = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
        for item in error.errors()
    ]
    return JSONResponse({"detail": items}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    # The statement and parameters stay out of the log (engines hide parameters anyway).
    logger.warning("database unavailable: %s", type(error).__name__)
    return JSONResponse(
        _body(DATABASE_UNAVAILABLE),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Connection failures surface as OperationalError/InterfaceError (both DBAPIError) or as a
    # pool timeout; pool_pre_ping replaces dead connections, so the next request recovers.
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)


class BodyLimitMiddleware:
    """413 for a body over `max_bytes`: by its Content-Length before anything is read, and by
    counting as it streams for chunked bodies that declare no length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        # An HTTPException from `receive` is re-raised by FastAPI's body reader and answered
        # by the exception handlers, inside the audit middleware, so the attempt is recorded.
        return api_error(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"request body larger than {self.max_bytes} bytes; send fewer children per request",
            "body",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise self._too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)
