"""X's wire formats: timestamps, snowflake ids, pagination tokens, languages, problems."""
from __future__ import annotations

import http
import re
import string
from datetime import datetime, timezone
from typing import Any

from sandbox.common import Snowflake
from sandbox.x.constants import HASHTAG_RE, MENTION_RE, PROBLEM, PROBLEM_TYPE, STATUS_URL_RE


def iso(ts: float) -> str:
    """X timestamps: UTC, milliseconds, ``Z`` (``2021-01-06T18:40:40.000Z``)."""
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def escaped(text: str) -> str:
    """Text as X serves it: ``&``, ``<`` and ``>`` as HTML entities (nothing else)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_time(value: str) -> float:
    moment = datetime.fromisoformat(value.replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def snowflake_at(ts: float, seq: int) -> int:
    return ((int(ts * 1000) - Snowflake.EPOCH_MS) << 22) | (seq & 0x3FFFFF)


def _base(n: int, alphabet: str) -> str:
    digits = ""
    while True:
        n, r = divmod(n, len(alphabet))
        digits = alphabet[r] + digits
        if n == 0:
            return digits


B36 = string.digits + string.ascii_lowercase
B32HEX = string.digits + "ABCDEFGHIJKLMNOPQRSTUV"


def make_token(direction: str, cursor: str, dm: bool = False) -> str:
    """An opaque page token carrying (direction, cursor id): base36 for tweet timelines,
    base32hex padded with ``Z`` for DM events (spec: PaginationToken32, minLength 16)."""
    number = int(("1" if direction == "next" else "2") + cursor)
    if dm:
        return _base(number, B32HEX) + "ZZZZ"
    return _base(number, B36)


def read_token(token: str, dm: bool = False) -> tuple[str, int] | None:
    try:
        number = int(token.rstrip("Z"), 32) if dm else int(token, 36)
    except ValueError:
        return None
    digits = str(number)
    if len(digits) < 2 or digits[0] not in "12":
        return None
    return ("next" if digits[0] == "1" else "prev"), int(digits[1:])


def detect_lang(text: str) -> str:
    """A script-level guess standing in for X's language detection."""
    bare = MENTION_RE.sub("", STATUS_URL_RE.sub("", text))
    bare = re.sub(r"https?://\S+", "", bare)
    if re.search(r"[\u3040-\u30ff]", bare):
        return "ja"
    if re.search(r"[\uac00-\ud7af]", bare):
        return "ko"
    if re.search(r"[\u4e00-\u9fff]", bare):
        return "zh"
    if re.search(r"[\u0400-\u04ff]", bare):
        return "ru"
    if re.search(r"[\u0600-\u06ff]", bare):
        return "ar"
    if re.search(r"[^\W\d_]", HASHTAG_RE.sub("", bare)):
        return "en"
    return "qme" if MENTION_RE.search(text) else "zxx"


class ApiError(Exception):
    """An error response; raised anywhere inside a request and rendered by the wrapper."""

    def __init__(self, status: int, body: dict[str, Any], content_type: str = PROBLEM_TYPE):
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


def generic_problem(status: int, detail: str | None = None) -> dict[str, Any]:
    phrase = http.HTTPStatus(status).phrase
    return {"title": phrase, "type": "about:blank", "status": status, "detail": detail or phrase}


def invalid(name: str | None, value: str | None, message: str) -> ApiError:
    """The invalid-request problem (400), one entry per offending parameter."""
    parameters = {name: [value if value is not None else ""]} if name else {}
    return ApiError(400, {"errors": [{"parameters": parameters, "message": message}],
                          "title": "Invalid Request",
                          "detail": "One or more parameters to your request was invalid.",
                          "type": PROBLEM + "invalid-request"})


def not_found(kind: str, parameter: str, value: str) -> dict[str, Any]:
    """A resource-not-found problem as X puts it in a 200's ``errors`` array."""
    return {"value": value, "detail": f"Could not find {kind} with {parameter}: [{value}].",
            "title": "Not Found Error", "resource_type": kind, "parameter": parameter,
            "resource_id": value, "type": PROBLEM + "resource-not-found"}


def _minute(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
