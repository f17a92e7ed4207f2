"""The ``/_sandbox/`` control API: customers posting and listing posts, metrics, users,
reset, clock, limits, the request log, faults, seed and outage.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import Response, request

from sandbox.common import is_chaos_spec
from sandbox.x.constants import JSON_TYPE, METRIC_KEYS, TIERS, USER_FIELDS, WINDOW
from sandbox.x.helpers import iso, parse_time
from sandbox.x.records import Fault
from sandbox.x.search import INDEX_LAG_DEFAULT

if TYPE_CHECKING:
    from sandbox.x.records import Post


class Control:
    """Control routes of ``XApi``."""

    # -- control API (/_sandbox/) -----------------------------------------------------

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type=JSON_TYPE)

    def _fail(self, message: str, status: int = 400) -> Response:
        return self._json({"error": message}, status)

    def c_create_post(self) -> Response:
        """A person on the network posts, replies, reposts, quotes or sends a DM.

        Replies get the parent's author and the accounts it mentioned prepended, as X's
        own apps do (see ``_client_reply_prefix``).
        """
        body = request.get_json(force=True, silent=True) or {}
        handle, text = body.get("author"), body.get("text") or ""
        state = self.state
        try:
            at = parse_time(body["created_at"]) if body.get("created_at") else None
            with state.lock:
                author = state.add_user(str(handle or ""))
                if body.get("dm"):
                    if not text:
                        return self._fail("a DM needs text")
                    to = state.add_user(body["to"]) if body.get("to") else \
                        state.users[state.brand_id]
                    event = state.create_dm(author, to, text, at)
                    return self._json({"id": event.id, "dm_conversation_id":
                                       event.conversation_id}, 201)
                targets: dict[str, Post | None] = {}
                for key in ("in_reply_to", "quote_of", "repost_of"):
                    if body.get(key):
                        targets[key] = state.live_post(str(body[key]))
                        if targets[key] is None:
                            return self._fail(f"{key}: no live post {body[key]}", 404)
                reply_to, repost_of = targets.get("in_reply_to"), targets.get("repost_of")
                if not text and repost_of is None:
                    return self._fail("text is required")
                if reply_to is not None:
                    text = self._client_reply_prefix(reply_to, author, text) + text
                post = state.create_post(author, text, reply_to=reply_to,
                                         quote_of=targets.get("quote_of"), repost_of=repost_of,
                                         at=at)
                return self._json({"id": post.id, "text": post.text,
                                   "conversation_id": post.conversation_id}, 201)
        except (ValueError, KeyError) as error:
            return self._fail(str(error))

    def c_list_posts(self) -> Response:
        """What an account posted (tweets, including deleted ones, and DMs sent), newest
        first; everyone's when no ``author`` is given."""
        state = self.state
        with state.lock:
            handle = request.args.get("author")
            author = state.user_by_handle(handle) if handle else None
            if handle and author is None:
                return self._json({"posts": []})
            entries: list[dict[str, Any]] = []
            for post in state.posts.values():
                if author is None or post.author_id == author.id:
                    entry = {"id": post.id, "text": post.text,
                             "submitted_text": post.submitted_text,
                             "author": state.users[post.author_id].username,
                             "in_reply_to": post.in_reply_to_tweet_id, "dm": False,
                             "conversation_id": post.conversation_id,
                             "created_at": iso(post.created_at),
                             "referenced_tweets": [{"type": t, "id": i}
                                                   for t, i in post.referenced],
                             "metrics": dict(post.metrics), "deleted": post.deleted}
                    entries.append(entry)
            for event in state.dms.values():
                if author is None or event.sender_id == author.id:
                    entries.append({"id": event.id, "text": event.text,
                                    "author": state.users[event.sender_id].username,
                                    "in_reply_to": None, "dm": True,
                                    "conversation_id": event.conversation_id,
                                    "created_at": iso(event.created_at),
                                    "dm_recipient": state.users[event.recipient_id].username})
        entries.sort(key=lambda e: int(e["id"]), reverse=True)
        return self._json({"posts": entries})

    def c_metrics(self, post_id: str) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        with self.state.lock:
            post = self.state.posts.get(post_id)
            if post is None:
                return self._fail(f"no post {post_id}", 404)
            unknown = set(body) - set(METRIC_KEYS)
            if unknown or not all(isinstance(v, int) and v >= 0 for v in body.values()):
                return self._fail(f"metrics are non-negative integers among {METRIC_KEYS}")
            post.metrics.update(body)
            return self._json({"id": post.id, "public_metrics": dict(post.metrics)})

    def c_user(self) -> Response:
        """Create or update an account: name, description, location, url, protected,
        verified, followers_count, following_count, listed_count."""
        body = request.get_json(force=True, silent=True) or {}
        editable = {"name", "description", "location", "url", "protected", "verified",
                    "followers_count", "following_count", "listed_count"}
        try:
            with self.state.lock:
                user = self.state.add_user(str(body.get("handle") or ""))
                for key in editable & set(body):
                    setattr(user, key, body[key])
                return self._json(self.user_obj(user, set(USER_FIELDS)), 201)
        except ValueError as error:
            return self._fail(str(error))

    def c_reset(self) -> Response:
        self.state.reset()
        self.state.index_lag = self.state.index_lag_default
        return self._json({"ok": True})

    def c_clock(self) -> Response:
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            try:
                self.state.clock.control(body)
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        now = self.state.clock.now()
        return self._json({"now": iso(now), "epoch": now, "speed": self.state.clock.speed})

    def c_limits(self) -> Response:
        limits = self.state.limits
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            try:
                if "index_lag" in body:
                    self._set_index_lag(body["index_lag"])
                if "tier" in body:
                    self._set_tier(str(body["tier"]))
                if "family" in body or not {"tier", "index_lag"} & set(body):
                    limits.set(str(body.get("family")), int(body["limit"]),
                               int(body.get("seconds", WINDOW)))
            except KeyError:
                return self._fail(f"family is one of {sorted(limits.defaults)}; limit is required")
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        figures = {name: {"limit": limit, "seconds": seconds}
                   for name, (limit, seconds) in {**limits.defaults, **limits.overrides}.items()}
        return self._json({"families": figures, "tier": self.state.tier,
                           "index_lag": getattr(self.state, "index_lag", INDEX_LAG_DEFAULT)})

    def _set_index_lag(self, value: Any) -> None:
        """The bound of the per-post indexing lag of mentions and search (0: none)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
            raise ValueError("index_lag is a number of seconds from 0 to 3600")
        self.state.index_lag = float(value)

    def _set_tier(self, tier: str) -> None:
        """An access tier's figures replace the windows it names (the others are kept)."""
        if tier not in TIERS:
            raise ValueError(f"tier is one of {sorted(TIERS)}")
        limits = self.state.limits
        for family in {f for figures in TIERS.values() for f in figures}:
            limit, seconds = TIERS[tier].get(family) or limits.defaults[family]
            limits.set(family, limit, seconds)
        self.state.tier = tier

    def c_requests(self) -> Response:
        with self.state.lock:
            if request.method == "DELETE":
                self.state.calls.clear()
            return self._json({"requests": list(self.state.calls)})

    def c_faults(self) -> Response:
        state = self.state
        with state.lock:
            if request.method == "DELETE":
                state.faults.clear()
                state.chaos.clear()
            elif request.method == "POST":
                body = request.get_json(force=True, silent=True) or {}
                if is_chaos_spec(body):
                    try:
                        chaos = state.chaos.add(body)
                    except (TypeError, ValueError) as error:
                        return self._fail(str(error))
                    return self._json({"id": chaos.id, "fault": chaos.json()}, 201)
                kind = body.get("kind", "error")
                try:
                    fault = Fault(id=next(state._fault_ids), path_prefix=str(body["path_prefix"]),
                                  status=int(body.get("status", 500 if kind != "error" else 503)),
                                  count=int(body.get("count", 1)), method=body.get("method"),
                                  kind=kind)
                except (KeyError, TypeError, ValueError):
                    return self._fail("path_prefix is required; status and count are integers")
                if kind not in Fault.KINDS or not 400 <= fault.status <= 599:
                    return self._fail(f"kind is one of {Fault.KINDS}; status is 400-599")
                state.faults.append(fault)
                return self._json({"id": fault.id}, 201)
            return self._json({"faults": [vars(f) for f in state.faults], **state.chaos.json()})

    def c_seed(self) -> Response:
        """The seed of the generator that decides probabilistic faults (set: replay a run)."""
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            try:
                self.state.chaos.reseed(int(body.get("seed", 0)))
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        return self._json({"seed": self.state.chaos.seed})

    def c_outage(self) -> Response:
        """X down for ``seconds`` of sandbox time, or until DELETE."""
        body: dict[str, Any] = {}
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
        try:
            return self._json({"outage": self.state.outage.control(request.method, body)})
        except (TypeError, ValueError) as error:
            return self._fail(str(error))
