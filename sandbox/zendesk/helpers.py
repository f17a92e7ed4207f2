"""Zendesk's error bodies and the small wire formats: timestamps, cursors, tags, HTML."""
from __future__ import annotations

import base64
import copy
import json
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from sandbox.common import HttpError
from sandbox.zendesk.constants import JSON_CT, NOT_FOUND_BODY, WEBHOOKS_CT


class ApiError(HttpError):
    """An error answer in Zendesk's own shape (status, body, headers)."""

    JSON_CT = JSON_CT


def not_found() -> ApiError:
    return ApiError(404, dict(NOT_FOUND_BODY))


def _found(table: Mapping[Any, Any], key: Any) -> Any:
    """``table[key]``, or the RecordNotFound 404 when there is no such record."""
    record = table.get(key)
    if record is None:
        raise not_found()
    return record


def record_invalid(field_name: str, description: str, error: str | None = "InvalidValue",
                   **extra: Any) -> ApiError:
    item: dict[str, Any] = {"description": description}
    if error is not None:
        item["error"] = error
    item.update(extra)
    return ApiError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                          "details": {field_name: [item]}})


def bad_request(error: str, description: str) -> ApiError:
    return ApiError(400, {"error": error, "description": description})


def webhook_error(status: int, code: str, title: str, detail: str) -> ApiError:
    return ApiError(status, {"errors": [{"code": code, "title": title, "detail": detail}]},
                    content_type=WEBHOOKS_CT)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ns(ts: float) -> str:
    whole = int(ts)
    nanos = min(int((ts - whole) * 1e9), 999_999_999)
    return f"{datetime.fromtimestamp(whole, timezone.utc):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _cursor_token(key: Any) -> str:
    """An opaque cursor like Zendesk's: base64 of ``{"o": order, "v": position}``."""
    return _b64(json.dumps({"o": "id", "v": key}))


def _unb64(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), validate=False).decode()
    except (ValueError, UnicodeDecodeError) as err:
        raise bad_request("InvalidPaginationParameter", "invalid cursor") from err


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    return int(value)


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def normalize_tags(values: Any) -> list[str]:
    """Zendesk tags: lower-cased, split on whitespace, de-duplicated, order kept."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        for tag in str(value).lower().split():
            if tag not in out:
                out.append(tag)
    return out


def html_body(text: str) -> str:
    """Render a plain comment body the way the recordings show Zendesk does."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()] or [""]
    rendered = []
    for paragraph in paragraphs:
        escaped = (paragraph.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                   .replace('"', "&quot;"))
        rendered.append(f'<p dir="auto">{escaped.replace(chr(10), chr(10) + "<br>")}</p>')
    return f'<div class="zd-comment" dir="auto">{chr(10).join(rendered)}</div>'


def strip_html(markup: str) -> str:
    text = re.sub(r"<br\s*/?>", "\n", markup)
    text = re.sub(r"</p>\s*<p[^>]*>", "\n\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&#39;", "'").replace("&amp;", "&")).strip()


_DROP = object()


def _safe_int(value: Any) -> int | None:
    try:
        return _int_or_none(value)
    except (TypeError, ValueError):
        return None


def _event_value(value: Any) -> Any:
    """Audit event values: ids and numbers as strings, lists stay lists, null stays null."""
    if value is None or isinstance(value, (list, bool)):
        return copy.deepcopy(value)
    return str(value)
