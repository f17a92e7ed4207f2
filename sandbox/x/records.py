"""Accounts, posts, DM events and faults, and the text entities of a post."""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from twitter_text import extract_urls_with_indices

from sandbox.x.constants import MENTION_RE, METRIC_KEYS


@dataclass
class User:
    id: str
    username: str
    name: str
    created_at: float
    description: str = ""
    location: str = ""
    url: str = ""
    protected: bool = False
    verified: bool = False
    followers_count: int = 0
    following_count: int = 0
    listed_count: int = 0


@dataclass
class Post:
    id: str
    author_id: str
    text: str
    submitted_text: str
    created_at: float
    conversation_id: str
    in_reply_to_tweet_id: str | None = None
    in_reply_to_user_id: str | None = None
    referenced: list[tuple[str, str]] = field(default_factory=list)
    urls: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[tuple[int, int, str]] = field(default_factory=list)
    metrics: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRIC_KEYS, 0))
    reply_settings: str = "everyone"
    lang: str = "en"
    deleted: bool = False


@dataclass
class DmEvent:
    id: str
    conversation_id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: float
    event_type: str = "MessageCreate"
    # As for posts: ``text`` has its links wrapped in t.co, ``submitted_text`` is as sent.
    submitted_text: str = ""
    urls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Fault:
    """The next ``count`` API calls matching (method, path prefix) misbehave.

    kind ``error``: fail with ``status`` before anything happens; ``error_after_write``:
    apply the call, then answer ``status`` without the result; ``drop_response``: apply
    the call, then close the connection without any response.
    """

    id: int
    path_prefix: str
    status: int = 503
    count: int = 1
    method: str | None = None
    kind: str = "error"

    KINDS = ("error", "error_after_write", "drop_response")

    def matches(self, method: str, path: str) -> bool:
        return (self.count > 0 and path.startswith(self.path_prefix)
                and (self.method is None or self.method.upper() == method.upper()))


def wrap_urls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Replace each URL by a t.co link as X does, returning the url entities."""
    out, urls, last = [], [], 0
    for found in extract_urls_with_indices(text):
        start, end = found["indices"]
        original = found["url"]
        link = "https://t.co/" + "".join(secrets.choice(string.ascii_letters + string.digits)
                                         for _ in range(10))
        out.append(text[last:start])
        begin = sum(len(part) for part in out)
        out.append(link)
        expanded = original if "://" in original else "http://" + original
        display = expanded.split("://", 1)[1]
        display = display.removeprefix("www.")
        if len(display) > 26:
            display = display[:25] + "…"
        urls.append({"start": begin, "end": begin + len(link), "url": link,
                     "expanded_url": expanded, "display_url": display})
        last = end
    out.append(text[last:])
    return "".join(out), urls


def mention_spans(text: str, urls: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(start, end, username) of each @mention outside URLs, code-point indices."""
    return [(m.start(), m.end(), m.group(1)) for m in MENTION_RE.finditer(text)
            if not any(u["start"] <= m.start() < u["end"] for u in urls)]
