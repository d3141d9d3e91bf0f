"""Every error leaves the API as ``{"error": {"field": ..., "message": ...}}`` with a 4xx status."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from transactive.errors import FieldError

log = logging.getLogger(__name__)

STATUS = {"invalid": 422, "unauthenticated": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
          "too_late": 409, "too_many": 429}


def error_response(status: int, field: str | None, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status, headers=headers)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "blocks", 1, "price_per_kwh")`` -> ``blocks[1].price_per_kwh``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    # pydantic adds the union member or tag to the location; drop those
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part not in ("str", "int", "float", "bool", "none", "list[Block]", "Block"):
            text += f".{part}" if text else part
    return text or "(body)"


def install(app: FastAPI) -> None:
    @app.exception_handler(FieldError)
    async def _field(_request: Request, exc: FieldError) -> JSONResponse:
        return error_response(STATUS[exc.kind], exc.field, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request"}
        message = str(first.get("msg", "invalid"))
        if first.get("type") == "json_invalid":
            ctx = first.get("ctx")
            detail = ctx.get("error", message) if isinstance(ctx, dict) else message
            return error_response(422, "(body)", f"malformed JSON: {detail}")
        return error_response(422, field_path(first.get("loc", ())), message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        field = "(path)" if exc.status_code in (404, 405) else "(request)"
        return error_response(exc.status_code, field, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
        log.exception("internal error")
        return error_response(500, None, f"internal error: {type(exc).__name__}")
