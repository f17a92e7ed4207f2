"""The recent-search query language: tokens, the parser and matching a post."""
from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Any

from sandbox.x.constants import HASHTAG_RE

if TYPE_CHECKING:
    from sandbox.x.model import XState
    from sandbox.x.records import Post


# Timelines and search index a post late: it is served only ``lag`` seconds after it was
# created, each post's lag drawn (from the chaos seed and its id) below this bound, which
# ``POST /_sandbox/limits {"index_lag": seconds}`` sets (X: a few seconds; the service's
# ``index_lag`` setting is what a reset comes back to).
INDEX_LAG_DEFAULT = 3.0


def index_lag(post: Post, state: XState) -> float:
    bound = getattr(state, "index_lag", INDEX_LAG_DEFAULT)
    if bound <= 0:
        return 0.0
    return random.Random(f"{state.chaos.seed}:{post.id}").random() * bound


def indexed(posts: list[Post], state: XState) -> list[Post]:
    """What a timeline or search read can see now: posts whose indexing lag has passed."""
    now = state.clock.now()
    return [p for p in posts if p.created_at + index_lag(p, state) <= now]


class QueryError(Exception):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message, self.position = message, position


Node = tuple[Any, ...]
_OPERATORS = {"from", "to", "conversation_id", "is", "has", "lang"}
_IS = {"retweet", "reply", "quote", "verified"}
_HAS = {"mentions", "links", "hashtags"}
_INVALID_OPERATOR = ("Reference to invalid operator '{}'. Operator is not available in current "
                     "product or product packaging. Please refer to complete available operator "
                     "list at https://developer.twitter.com/en/docs/twitter-api/enterprise/"
                     "rules-and-filtering/operators-by-product.")


def _query_tokens(query: str) -> list[tuple[str, bool, str, int]]:
    """(kind, negated, text, 1-based position) for ``(``, ``)``, phrases and words."""
    tokens, pos = [], 0
    while pos < len(query):
        if query[pos].isspace():
            pos += 1
            continue
        start, negated = pos, False
        if query[pos] == "-" and pos + 1 < len(query) and not query[pos + 1].isspace():
            negated, pos = True, pos + 1
        char = query[pos]
        if char in "()":
            tokens.append((char, negated, char, start + 1))
            pos += 1
        elif char == '"':
            close = query.find('"', pos + 1)
            if close < 0:
                raise QueryError("Missing closing quote", start + 1)
            tokens.append(("phrase", negated, query[pos + 1:close], start + 1))
            pos = close + 1
        else:
            word = re.compile(r'[^\s()"]+').match(query, pos)
            assert word is not None
            tokens.append(("word", negated, word.group(), start + 1))
            pos = word.end()
    return tokens


class QueryParser:
    """Recent-search rules: implicit AND by space, ``OR`` (AND binds first), ``-`` and
    parentheses, over the operators socialdesk relies on."""

    def __init__(self, query: str) -> None:
        self.tokens = _query_tokens(query)
        self.i = 0

    def parse(self) -> Node:
        node = self._or()
        if self.i < len(self.tokens):
            kind, _, text, pos = self.tokens[self.i]
            raise QueryError(f"missing EOF at '{text}'", pos)
        if not _standalone(node):
            if _has_positive_filter(node):
                raise QueryError("is/has/lang cannot be used as a standalone operator", 1)
            raise QueryError("Rules must contain at least one positive, non-stopword clause", 1)
        return node

    def _is_or(self) -> bool:
        return self.i < len(self.tokens) and self.tokens[self.i][:3] == ("word", False, "OR")

    def _or(self) -> Node:
        parts = [self._and()]
        while self._is_or():
            self.i += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def _and(self) -> Node:
        parts: list[Node] = []
        while self.i < len(self.tokens) and self.tokens[self.i][0] != ")" and not self._is_or():
            if self.tokens[self.i][:3] == ("word", False, "AND"):
                self.i += 1
                continue
            parts.append(self._unary())
        if not parts:
            pos = self.tokens[self.i][3] if self.i < len(self.tokens) else 1
            text = self.tokens[self.i][2] if self.i < len(self.tokens) else "<EOF>"
            raise QueryError(f"no viable alternative at input '{text}'", pos)
        return parts[0] if len(parts) == 1 else ("and", parts)

    def _unary(self) -> Node:
        kind, negated, text, pos = self.tokens[self.i]
        self.i += 1
        if kind == "(":
            node = self._or()
            if self.i >= len(self.tokens) or self.tokens[self.i][0] != ")":
                raise QueryError("Missing closing parenthesis", pos)
            self.i += 1
        elif kind == "phrase":
            node = ("phrase", text.casefold())
        else:
            node = self._term(text, pos)
        return ("not", node) if negated else node

    def _term(self, text: str, pos: int) -> Node:
        if text in ("and", "or"):
            raise QueryError(f"Ambiguous use of {text} as a keyword. Use a space to logically join "
                             f'two clauses, or "{text}" to find occurrences of {text} in text', pos)
        if text[0] in "@＠" and len(text) > 1:
            return ("mention", text[1:].casefold())
        if text[0] in "#＃" and len(text) > 1:
            return ("hashtag", text[1:].casefold())
        operator, colon, argument = text.partition(":")
        if colon and not argument.startswith("//"):
            if operator not in _OPERATORS or not argument \
                    or (operator == "is" and argument not in _IS) \
                    or (operator == "has" and argument not in _HAS):
                raise QueryError(_INVALID_OPERATOR.format(text if operator in ("is", "has")
                                                          else operator), pos)
            return (operator, argument.casefold().lstrip("@"))
        return ("word", text.casefold())


def _standalone(node: Node) -> bool:
    kind = node[0]
    if kind == "and":
        return any(_standalone(n) for n in node[1])
    if kind == "or":
        return all(_standalone(n) for n in node[1])
    return kind not in ("not", "is", "has", "lang")


def _has_positive_filter(node: Node) -> bool:
    if node[0] in ("and", "or"):
        return any(_has_positive_filter(n) for n in node[1])
    return node[0] in ("is", "has", "lang")


def query_matches(node: Node, post: Post, state: XState) -> bool:
    kind = node[0]
    if kind == "and":
        return all(query_matches(n, post, state) for n in node[1])
    if kind == "or":
        return any(query_matches(n, post, state) for n in node[1])
    if kind == "not":
        return not query_matches(node[1], post, state)
    value = node[1]
    haystack = " ".join([post.text] + [u["expanded_url"] for u in post.urls]).casefold()
    author = state.users[post.author_id]
    if kind == "word":
        if re.fullmatch(r"\w+", value):
            return value in re.findall(r"\w+", haystack)
        return value in haystack
    if kind == "phrase":
        return re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", haystack) is not None
    if kind == "mention":
        return value in {m[2].lower() for m in post.mentions}
    if kind == "hashtag":
        return value in {h.casefold() for h in HASHTAG_RE.findall(post.text)}
    if kind == "from":
        return value in (author.username.lower(), author.id)
    if kind == "to":
        target = state.users.get(post.in_reply_to_user_id or "")
        return target is not None and value in (target.username.lower(), target.id)
    if kind == "conversation_id":
        return post.conversation_id == value
    if kind == "lang":
        return post.lang == value
    if kind == "is":
        types = {t for t, _ in post.referenced}
        return {"retweet": "retweeted" in types, "quote": "quoted" in types,
                "reply": post.in_reply_to_tweet_id is not None,
                "verified": author.verified}[value]
    return {"mentions": bool(post.mentions), "links": bool(post.urls),
            "hashtags": bool(HASHTAG_RE.search(post.text))}[value]
