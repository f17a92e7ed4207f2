"""Case and Contact values as Salesforce holds them: ids, priorities, the tags field,
timestamps."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

# Zendesk-style priorities the mapping speaks -> Case picklist values.
PRIORITIES = {"urgent": "High", "high": "High", "normal": "Medium", "low": "Low"}
CASE_FIELDS = ("Id, CaseNumber, Status, IsClosed, Priority, ContactId, Social_Post_Id__c, Social_Tags__c")
TAGS_LEN = 255
COMMENT_BYTES = 4000   # CaseComment.CommentBody holds 4,000 bytes of UTF-8, not characters
NO_ASSIGN = {"Sforce-Auto-Assign": "FALSE"}  # the REST API runs assignment rules on updates too


def _comment_text(body: str) -> str:
    """``body`` within CommentBody's 4,000 UTF-8 bytes, cut between characters."""
    data = body.encode("utf-8")
    if len(data) <= COMMENT_BYTES:
        return body
    return data[:COMMENT_BYTES].decode("utf-8", "ignore")


def _duplicate_of(err: Any, field: str) -> bool:
    """Whether a refused insert was refused because ``field`` (unique) already holds the value."""
    content = getattr(err, "content", None)
    return isinstance(content, list) and any(
        isinstance(e, dict) and e.get("errorCode") == "DUPLICATE_VALUE" and field in str(e.get("message"))
        for e in content)


def _looks_like_id(value: str) -> bool:
    """A Salesforce record id (15 or 18 characters, letters and digits, with a digit)."""
    return len(value) in (15, 18) and value.isalnum() and any(c.isdigit() for c in value)


def _tags(value: Any) -> tuple[str, ...]:
    """The tags in a Case's tags field: words apart by spaces, commas or semicolons."""
    return tuple(dict.fromkeys(t for t in re.split(r"[\s,;]+", str(value or "")) if t))


def _tag_text(tags: Any) -> str:
    """Tags as the field holds them, within its 255 characters (whole tags only)."""
    kept: list[str] = []
    for tag in dict.fromkeys(tags):
        if len(" ".join([*kept, tag])) <= TAGS_LEN:
            kept.append(tag)
    return " ".join(kept)


def _soql_time(value: str) -> str:
    """A record timestamp (``2013-05-20T20:49:32.000+0000``) as a SOQL datetime literal,
    to the second (the query is inclusive, so nothing of that second is skipped)."""
    parsed = _sf_time(value)
    if parsed is None:
        return value
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sf_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+0000")
    for layout in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    return None

