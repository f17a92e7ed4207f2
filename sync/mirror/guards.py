"""Guards on a reply before it leaves: personal data in public, a stale conversation.

A guard never edits an answer: it holds it, and the note tells the agent why and what to do.
"""
from __future__ import annotations

import re


class HeldReply(ValueError):
    """A reply was held back by a guard; the message says why and what to do."""


_CARD_CANDIDATE = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_GUARDS = (
    ("an email address", re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]*[a-z]{2,}", re.I)),
    ("a phone number", re.compile(r"\+\d[\d ().-]{7,}\d|\b\d{3}[ .-]\d{3}[ .-]\d{4}\b")),
    ("a merged ticket's history", re.compile(r"^(?:Request #\d+ .*was closed and merged|"
                                             r"This request was closed and merged)", re.I | re.M)),
)


def luhn_valid(digits: str) -> bool:
    """The card-number checksum: a long run of digits that fails it is not a card."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _has_card_number(body: str) -> bool:
    for match in _CARD_CANDIDATE.finditer(body):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def public_reply_guard(body: str, patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()) -> str | None:
    """Why ``body`` must not be posted publicly, or None. A DM is not held.

    ``patterns`` are the route's own (name, regex), such as order numbers.
    """
    found = None
    if _has_card_number(body):
        found = "a card number"
    for what, pattern in (*_GUARDS, *((f"{name}", rx) for name, rx in patterns)):
        if found is None and pattern.search(body):
            found = what
    if found is None:
        return None
    return (f"held: the reply seems to contain {found}; answer again without it, "
            f"or move the conversation to a direct message")


def too_old(last_post_at: float | None, now: float, max_age: float | None, dm_tag: str | None) -> str | None:
    """Why a public answer would come too late for the conversation, or None."""
    if max_age is None or last_post_at is None or now - last_post_at <= max_age:
        return None
    private = (f"answer by direct message (add the tag {dm_tag} and reply again)" if dm_tag
               else "answer privately")
    return (f"held: the customer last wrote {(now - last_post_at) / 3600:.0f} h ago, past this route's "
            f"{max_age / 3600:g} h limit for public replies; {private}, or leave the thread alone")
