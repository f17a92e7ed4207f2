"""Turning an agent's answer into posts a network accepts, without ever cutting it."""
from __future__ import annotations

from typing import Callable

Weigh = Callable[[str], int]


class ReplyTooLong(ValueError):
    """The answer does not fit one post and threading is switched off."""


def address(body: str, handle: str) -> str:
    """Prefix ``@handle`` unless the agent already addressed the customer."""
    body = body.strip()
    if body.lower().startswith(f"@{handle.lower()}"):
        return body
    return f"@{handle} {body}"


def split_reply(text: str, weigh: Weigh, limit: int, *, thread: bool = True) -> list[str]:
    """``text`` as one post, or as a numbered thread (" 1/3") when it is longer than ``limit``.

    Words are never cut unless a single word is longer than a whole post.
    """
    if weigh(text) <= limit:
        return [text]
    if not thread:
        raise ReplyTooLong(f"reply weighs {weigh(text)} characters; the limit is {limit}")
    words = text.split()
    total = 2
    while True:
        parts = _pack(words, weigh, limit, total)
        if len(parts) <= total:
            return [f"{part} {i}/{len(parts)}" for i, part in enumerate(parts, 1)]
        total = len(parts)


def _pack(words: list[str], weigh: Weigh, limit: int, total: int) -> list[str]:
    room = limit - len(f" {total}/{total}")
    parts: list[str] = []
    current = ""
    for word in words:
        while weigh(word) > room:
            # A word longer than a post (a pasted token, a long number) is cut; what
            # fits goes after the current text, the rest starts the next part.
            space = room - weigh(current) - 1 if current else room
            if current and space < 8:
                parts.append(current)
                current = ""
                continue
            head, word = _cut(word, weigh, space)
            parts.append(f"{current} {head}" if current else head)
            current = ""
        candidate = f"{current} {word}" if current else word
        if weigh(candidate) <= room:
            current = candidate
        else:
            parts.append(current)
            current = word
    if current:
        parts.append(current)
    return parts


def _cut(word: str, weigh: Weigh, room: int) -> tuple[str, str]:
    room = max(room, 1)
    end = len(word)
    while end > 1 and weigh(word[:end]) > room:
        end -= 1
    return word[:end], word[end:]
