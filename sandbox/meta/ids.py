"""The ids the stand-in gives what it makes, each in the shape its network uses: ``GraphIds``."""
from __future__ import annotations

import base64
import itertools
import secrets
import string

from sandbox.meta.records import FACEBOOK, Post


def digits(count: int, first: str = "1") -> str:
    """A random number of ``count`` digits starting with ``first``."""
    return first + "".join(secrets.choice(string.digits) for _ in range(count - 1))


class GraphIds:
    """Facebook's 15-17 digit object numbers (posts and comments as ``<owner>_<number>``,
    threads as ``t_<number>``, messages as ``m_...`` mids), Instagram's 17-18 digit ones
    (base64 thread and message ids naming the account), people's scoped ids, and one
    order over everything made (``seq``)."""

    def __init__(self, ig_user_id: str) -> None:
        self.ig_user_id = ig_user_id
        self._fb = itertools.count(int(digits(15)) * 10)
        self._ig = itertools.count(int("179" + digits(14, "1")))
        self._person = itertools.count(int(digits(16, "2")))
        self._order = itertools.count(1)

    def order(self) -> int:
        return next(self._order)

    def person(self) -> str:
        return str(next(self._person))

    def post(self, network: str, owner_id: str) -> str:
        """A Facebook post is numbered under its owner (the Page, or a person's timeline)."""
        return f"{owner_id}_{next(self._fb)}" if network == FACEBOOK else str(next(self._ig))

    def comment(self, post: Post) -> str:
        if post.network == FACEBOOK:
            return f"{post.id.split('_')[-1]}_{next(self._fb)}"
        return str(next(self._ig))

    def thread(self, network: str, person_id: str, seq: int) -> str:
        if network == FACEBOOK:
            return f"t_{next(self._fb)}"
        return _b64(f"ig_message_thread:1:IGMessageThread:{self.ig_user_id}:{seq}{person_id}")

    def message(self, network: str, seq: int) -> str:
        if network == FACEBOOK:
            return "m_" + secrets.token_urlsafe(64)[:86]
        return _b64(f"ig_message_item:1:IGMessageThread:{self.ig_user_id}:"
                    f"{seq}{secrets.randbelow(10**30)}")

    @staticmethod
    def shortcode() -> str:
        """An Instagram media's permalink code."""
        return "".join(secrets.choice(string.ascii_letters + string.digits + "_-")
                       for _ in range(11))


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
