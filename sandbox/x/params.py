"""Request parameters: field selection, typed params, pagination, the create-post schema."""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from flask import request

from sandbox.x.constants import _FIELD_PARAMS, DM_FIELDS, ID_RE, PROBLEM, TWEET_FIELDS, USER_FIELDS
from sandbox.x.helpers import ApiError, invalid, parse_time, read_token


class Fields:
    """The field and expansion selection of one request, validated against the spec."""

    def __init__(self, expansions: list[str]) -> None:
        self.tweet = set(_list_param("tweet.fields", TWEET_FIELDS))
        self.user = set(_list_param("user.fields", USER_FIELDS))
        self.dm = set(_list_param("dm_event.fields", DM_FIELDS))
        self.expansions = set(_list_param("expansions", expansions))
        for name in ("media.fields", "poll.fields", "place.fields"):
            _list_param(name, _FIELD_PARAMS[name])


def _check_params(allowed: Iterable[str]) -> None:
    names = list(allowed)
    for key, value in request.args.items():
        if key not in names:
            raise invalid(key, value, f"The query parameter [{key}] is not one of "
                                      f"[{','.join(names)}]")


def _list_param(name: str, enum: list[str]) -> list[str]:
    raw = request.args.get(name)
    if raw is None:
        return []
    values = raw.split(",")
    for value in values:
        if value not in enum:
            raise invalid(name, value, f"The `{name}` query parameter value [{value}] is not "
                                       f"one of [{','.join(enum)}]")
    return values


def _int_param(name: str, low: int, high: int, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", raw) or not low <= int(raw) <= high:
        raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not between "
                                 f"{low} and {high}")
    return int(raw)


def _id_value(name: str, raw: str | None) -> str | None:
    if raw is not None and not ID_RE.match(raw):
        raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] does not match "
                                 f"^[0-9]{{1,19}}$")
    return raw


def _time_param(name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not a valid "
                                 "RFC3339 date-time") from None


def _token_param(name: str, dm: bool = False) -> tuple[str, int] | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    decoded = read_token(raw, dm=dm) if raw and (not dm or len(raw) >= 16) else None
    if decoded is None:
        raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not valid")
    return decoded


def paginate(items: list[Any], size: int, token: tuple[str, int] | None,
             trailing: bool = False) -> tuple[list[Any], str | None, str | None]:
    """One page of a newest-first list; (page, cursor for next, cursor for previous).

    ``trailing``: the last page still names a next page, which is then empty, as X
    sometimes answers."""
    start = 0
    if token is not None:
        direction, cursor = token
        if direction == "next":
            start = next((i for i, item in enumerate(items) if int(item.id) < cursor),
                         len(items))
        else:
            end = next((i for i, item in enumerate(items) if int(item.id) <= cursor),
                       len(items))
            start = max(0, end - size)
    page = items[start:start + size]
    following = page[-1].id if page and (start + size < len(items) or trailing) else None
    previous = page[0].id if page and token is not None and start > 0 else None
    return page, following, previous


SCHEMA_ID = {"type": "string", "pattern": r"^[0-9]{1,19}$"}
_REPLY_SETTING = {"type": "string",
                  "enum": ["following", "mentionedUsers", "subscribers", "verified"]}
# TweetCreateRequest (2.159); it and every nested object are ``additionalProperties: false``.
_CREATE_PROPERTIES: dict[str, Any] = {
    "card_uri": {"type": "string"},
    "community_id": SCHEMA_ID,
    "direct_message_deep_link": {"type": "string"},
    "edit_options": {"type": "object", "additionalProperties": False,
                     "required": ["previous_post_id"],
                     "properties": {"previous_post_id": SCHEMA_ID}},
    "for_super_followers_only": {"type": "boolean"},
    "geo": {"type": "object", "additionalProperties": False,
            "properties": {"place_id": {"type": "string"}}},
    "media": {"type": "object", "additionalProperties": False, "required": ["media_ids"],
              "properties": {"media_ids": {"type": "array", "minItems": 1, "maxItems": 4,
                                           "items": SCHEMA_ID},
                             "tagged_user_ids": {"type": "array", "minItems": 0,
                                                 "maxItems": 10, "items": SCHEMA_ID}}},
    "nullcast": {"type": "boolean"},
    "poll": {"type": "object", "additionalProperties": False,
             "required": ["options", "duration_minutes"],
             "properties": {"duration_minutes": {"type": "integer", "minimum": 5,
                                                 "maximum": 10080},
                            "options": {"type": "array", "minItems": 2, "maxItems": 4,
                                        "items": {"type": "string", "minLength": 1,
                                                  "maxLength": 25}},
                            "reply_settings": _REPLY_SETTING}},
    "quote_tweet_id": SCHEMA_ID,
    "reply": {"type": "object", "additionalProperties": False,
              "required": ["in_reply_to_tweet_id"],
              "properties": {"auto_populate_reply_metadata": {"type": "boolean"},
                             "exclude_reply_user_ids": {"type": "array", "items": SCHEMA_ID},
                             "in_reply_to_tweet_id": SCHEMA_ID}},
    "reply_settings": _REPLY_SETTING,
    "share_with_followers": {"type": "boolean"},
    "text": {"type": "string"},
}
TWEET_CREATE_SCHEMA = {"type": "object", "additionalProperties": False,
                       "properties": _CREATE_PROPERTIES}
_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """The small JSON-Schema subset the request bodies need, worded like X's validator."""
    kind = schema.get("type")
    expected = _JSON_TYPES.get(kind or "")
    if expected and (not isinstance(value, expected)
                     or (kind == "integer" and isinstance(value, bool))):
        found = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
                 float: "number", type(None): "null"}.get(type(value), "unknown")
        return [f"{path}: {found} found, {kind} expected"]
    errors: list[str] = []
    if kind == "object":
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}.{key}: is missing but it is required")
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: is not defined in the schema and the schema does "
                              "not allow additional properties")
    elif kind == "array":
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: there must be a minimum of {schema['minItems']} items in "
                          "the array")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: there must be a maximum of {schema['maxItems']} items in "
                          "the array")
        for index, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), f"{path}[{index}]")
    elif kind == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match the regex pattern {schema['pattern']}")
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{path}: does not have a value in the enumeration "
                          f"[{', '.join(schema['enum'])}]")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: must be at least {schema['minLength']} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: may only be {schema['maxLength']} characters long")
    elif kind == "integer":
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: must have a minimum value of {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: must have a maximum value of {schema['maximum']}")
    return errors


def _json_body() -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise ApiError(400, {"errors": [{"parameters": {}, "message": "Request body is not "
                                         "valid JSON"}], "title": "Invalid Request",
                             "detail": "One or more parameters to your request was invalid.",
                             "type": PROBLEM + "invalid-request"}) from None


def _body_problem(messages: list[str]) -> ApiError:
    return ApiError(400, {"errors": [{"parameters": {}, "message": m} for m in messages],
                          "title": "Invalid Request",
                          "detail": "One or more parameters to your request was invalid.",
                          "type": PROBLEM + "invalid-request"})
