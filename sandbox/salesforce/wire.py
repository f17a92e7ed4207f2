"""Responses, request bodies and route registration in Salesforce's shapes."""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable, Mapping

from flask import Flask, Response, request

from sandbox.common import error_response
from sandbox.salesforce.constants import JSON_CT
from sandbox.salesforce.errors import sf_error

if TYPE_CHECKING:
    from sandbox.salesforce.errors import SfError
    from sandbox.salesforce.model import SalesforceState


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None,
          content_type: str = JSON_CT) -> Response:
    if status == 204 or body is None:
        response = Response(b"", status=status)
        response.headers.pop("Content-Type", None)
    else:
        response = Response(json.dumps(body).encode(), status=status, content_type=content_type)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _error_response(err: SfError) -> Response:
    return error_response(err, _json)


def _body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as err:
        raise sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: was expecting JSON ({err.msg}) "
                       f"at [line:{err.lineno}, column:{err.colno}]") from err


def _version(ver: str) -> str:
    return ver[1:]


def _route(app: Flask, state: SalesforceState, rule: str,
           methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``rule``; the view runs with the state lock held."""
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def view(**kwargs: Any) -> Any:
            with state.lock:
                return fn(**kwargs)
        app.add_url_rule(rule, endpoint=f"{fn.__name__}:{rule}", view_func=view, methods=methods)
        return fn
    return deco


_VERSION_RE = re.compile(r"^v(\d+)\.0$")
