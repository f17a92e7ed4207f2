"""The ``/_sandbox/`` control API: people posting, commenting and writing DMs, changing
what they wrote, the clock, budgets, tokens, webhook knobs, CDN links, faults, outage,
the call log and reset.

``POST /_sandbox/posts`` {"network": "facebook"|"instagram", "author", "text", "dm",
"on", "media", "tagged"} is what a person (or, with the Page's or account's handle, the
brand in its own UI) does:
- ``dm: true``: a Messenger or Instagram DM to the brand (opens the messaging windows);
- ``on`` a post, media or comment id: a comment on it, or a reply under the comment;
- ``on`` absent: a comment on the brand's latest post or media (a Page post and a
  media exist after every reset);
- ``on`` the Page id (Facebook): a visitor post on the Page;
- ``on: "timeline"``: a post or media on the person's own profile; with ``@<brand
  handle>`` in the text it mentions the brand (Page ``mention`` webhook, ``/tagged``;
  Instagram ``mentions`` webhook, ``mentioned_media``); ``tagged: true`` also puts an
  Instagram media in ``/{ig-user-id}/tags``.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import Response, request

from sandbox.common import is_chaos_spec
from sandbox.meta.constants import JSON_TYPE
from sandbox.meta.paging import graph_time
from sandbox.meta.records import FACEBOOK, INSTAGRAM, Comment, Message, Post

if TYPE_CHECKING:
    from sandbox.meta.model import MetaState


class Control:
    """Control routes of ``MetaApi``."""

    state: "MetaState"

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type=JSON_TYPE)

    def _fail(self, message: str, status: int = 400) -> Response:
        return self._json({"error": message}, status)

    @staticmethod
    def _body() -> dict[str, Any]:
        body = request.get_json(force=True, silent=True)
        return body if isinstance(body, dict) else {}

    # -- people ---------------------------------------------------------------------------

    def c_create_post(self) -> Response:
        body = self._body()
        s = self.state
        network = str(body.get("network") or FACEBOOK)
        if network not in (FACEBOOK, INSTAGRAM):
            return self._fail("network is facebook or instagram")
        text = str(body.get("text") or "")
        media = body.get("media") or []
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            return self._fail("media is a list of {\"type\": \"image\"}")
        if not text and not media:
            return self._fail("text (or media) is required")
        try:
            with s.lock:
                handle = str(body.get("author") or "")
                brand = handle.lower() == s.brand_handle(network).lower()
                author_id = s.brand_id(network) if brand else s.person(network, handle).id
                if body.get("dm"):
                    if brand:
                        return self._fail("the brand answers DMs through the Send API")
                    sent = s.create_message(network, author_id, text, from_brand=False,
                                            media=media)
                    return self._json({"id": sent.id, "conversation_id": sent.thread_id,
                                       "author_id": author_id}, 201)
                on = str(body.get("on") or "")
                if on == "timeline" or (brand and not on):
                    post = s.create_post(network, author_id, text, media=media,
                                         tagged=bool(body.get("tagged")))
                    return self._json({"id": post.id, "author_id": author_id}, 201)
                if on and on == s.page_id and network == FACEBOOK:
                    post = s.create_post(network, author_id, text, kind="visitor", media=media)
                    return self._json({"id": post.id, "author_id": author_id}, 201)
                target: Post | Comment | None
                if on:
                    target = s.live_post(on) or s.live_comment(on)
                else:
                    target = s.latest_brand_post(network)
                if target is None or target.network != network:
                    return self._fail(f"on: no live {network} post or comment {on}", 404)
                comment = s.create_comment(target, author_id, text, media=media)
                return self._json({"id": comment.id, "post_id": comment.post_id,
                                   "parent_id": comment.parent_id, "author_id": author_id}, 201)
        except ValueError as error:
            return self._fail(str(error))

    def c_list_posts(self) -> Response:
        """What an account wrote: posts, comments and DMs, newest first (removed ones too)."""
        s = self.state
        who = request.args.get("author")
        with s.lock:
            ids = s.author_ids(who) if who else None
            if who and not ids:
                return self._json({"posts": []})
            entries: list[tuple[int, dict[str, Any]]] = []
            for post in s.posts.values():
                if ids is None or post.author_id in ids:
                    entries.append((post.seq, self._entry(post, None)))
            for comment in s.comments.values():
                if ids is None or comment.author_id in ids:
                    entries.append((comment.seq, self._entry(comment, comment.parent_id
                                                             or comment.post_id)))
            for message in s.messages.values():
                if ids is None or message.sender_id in ids:
                    entries.append((message.seq, self._entry(message,
                                                             message.private_reply_to)))
        entries.sort(key=lambda e: e[0], reverse=True)
        return self._json({"posts": [e for _, e in entries]})

    def _entry(self, obj: Post | Comment | Message, in_reply_to: str | None) -> dict[str, Any]:
        s = self.state
        author = obj.sender_id if isinstance(obj, Message) else obj.author_id
        entry: dict[str, Any] = {
            "id": obj.id, "text": obj.text, "in_reply_to": in_reply_to,
            "dm": isinstance(obj, Message), "network": obj.network,
            "created_at": graph_time(obj.created_at), "author_id": author,
            "author": s.brand_handle(obj.network) if s.is_brand(author)
            else s.people[author].handle,
            "tag": getattr(obj, "tag", None), "messaging_type": getattr(obj, "messaging_type",
                                                                         None),
            "media": [m["type"] for m in obj.media]}
        if isinstance(obj, Message):
            entry.update(recipient_id=obj.recipient_id, conversation_id=obj.thread_id,
                         unsent=obj.unsent, private_reply=obj.private_reply_to is not None)
        else:
            entry.update(deleted=obj.deleted, hidden=obj.hidden)
            if isinstance(obj, Post):
                entry["kind"] = obj.kind
            else:
                entry["post_id"] = obj.post_id
        return entry

    def c_change(self, post_id: str, action: str) -> Response:
        """``/_sandbox/posts/<id>/edit|delete|hide|unhide|unsend``: the change and its webhook."""
        s = self.state
        body = self._body()
        with s.lock:
            obj: Post | Comment | Message | None = (s.posts.get(post_id) or
                                                    s.comments.get(post_id) or
                                                    s.messages.get(post_id))
            if obj is None:
                return self._fail(f"no post, comment or message {post_id}", 404)
            if action == "edit":
                text = body.get("text")
                if not isinstance(text, str) or not text:
                    return self._fail("text is required")
                if isinstance(obj, Comment) and obj.network == INSTAGRAM:
                    return self._fail("Instagram comments cannot be edited")
                if getattr(obj, "deleted", False) or getattr(obj, "unsent", False):
                    return self._fail("it is gone", 409)
                s.edit(obj, text)
            elif action == "unsend":
                if not isinstance(obj, Message):
                    return self._fail("only DMs are unsent")
                s.unsend(obj)
            elif isinstance(obj, Message):
                return self._fail(f"a DM cannot be {action}d; unsend it")
            elif action == "delete":
                s.delete(obj)
            else:
                s.set_hidden(obj, action == "hide")
            return self._json(self._entry(obj, None))

    # -- service --------------------------------------------------------------------------

    def c_reset(self) -> Response:
        self.state.reset()
        return self._json({"ok": True})

    def c_clock(self) -> Response:
        if request.method == "POST":
            try:
                self.state.clock.control(self._body())
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        now = self.state.clock.now()
        return self._json({"now": graph_time(now), "epoch": now, "speed": self.state.clock.speed})

    def c_usage(self) -> Response:
        """Budgets: POST {"bucket": "pages"|"instagram"|"app", "calls": n, "seconds": s}."""
        usage = self.state.usage
        if request.method == "POST":
            body = self._body()
            try:
                usage.set(str(body.get("bucket")), int(body["calls"]), body.get("seconds"))
            except (KeyError, TypeError, ValueError) as error:
                return self._fail(f"bucket and calls are required: {error}")
        return self._json({"usage": usage.json()})

    def c_tokens(self) -> Response:
        """POST {"action": "expire"|"revoke"|"uninstall"|"restore", "token": "page"|"app",
        "seconds": n (expire in n seconds)}."""
        tokens = self.state.tokens
        if request.method == "POST":
            body = self._body()
            try:
                tokens.control(str(body.get("action")), str(body.get("token") or "page"),
                               body.get("seconds"))
            except ValueError as error:
                return self._fail(str(error))
        return self._json({"tokens": tokens.json()})

    def c_webhooks(self) -> Response:
        """GET: subscriptions, queue and deliveries (``?wait=s`` waits until nothing is due);
        POST: knobs {duplicate, drop, delay, batch_window, verify_tls, seed}."""
        hooks = self.state.hooks
        if request.method == "POST":
            try:
                hooks.control(self._body())
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        idle = True
        if request.args.get("wait"):
            idle = hooks.wait_idle(min(float(request.args["wait"]), 60.0))
        body = hooks.json(int(request.args.get("deliveries", 50)))
        body["idle"] = idle
        return self._json(body)

    def c_cdn(self) -> Response:
        """POST {"ttl": seconds}: how long new media links stay valid."""
        cdn = self.state.cdn
        if request.method == "POST":
            try:
                ttl = float(self._body()["ttl"])
                if ttl <= 0:
                    raise ValueError("ttl is positive")
                cdn.ttl = ttl
            except (KeyError, TypeError, ValueError) as error:
                return self._fail(f"ttl (seconds) is required: {error}")
        return self._json({"ttl": cdn.ttl})

    def c_requests(self) -> Response:
        with self.state.lock:
            if request.method == "DELETE":
                self.state.calls.clear()
            return self._json({"requests": list(self.state.calls)})

    def c_faults(self) -> Response:
        """Counted faults {path_prefix, method, count, kind: error|error_after_write|
        drop_response, code (Graph error code, default 2), status}; probabilistic ones as the
        other services take them (kind 429, 5xx, slow, timeout, reset, drop_response)."""
        s = self.state
        with s.lock:
            if request.method == "DELETE":
                s.faults.clear()
                s.chaos.clear()
            elif request.method == "POST":
                body = self._body()
                if is_chaos_spec(body):
                    try:
                        chaos = s.chaos.add(body)
                    except (TypeError, ValueError) as error:
                        return self._fail(str(error))
                    return self._json({"id": chaos.id, "fault": chaos.json()}, 201)
                kind = str(body.get("kind") or "error")
                if kind not in ("error", "error_after_write", "drop_response"):
                    return self._fail("kind is error, error_after_write or drop_response")
                try:
                    fault = {"id": next(s._fault_ids), "path_prefix": str(body.get("path_prefix")
                                                                          or "/"),
                             "method": body.get("method"), "count": int(body.get("count", 1)),
                             "kind": kind, "code": int(body.get("code") or 2),
                             "status": int(body["status"]) if body.get("status") else None}
                except (TypeError, ValueError):
                    return self._fail("count, code and status are integers")
                s.faults.append(fault)
                return self._json({"id": fault["id"]}, 201)
            return self._json({"faults": list(s.faults), **s.chaos.json()})

    def c_seed(self) -> Response:
        if request.method == "POST":
            try:
                self.state.chaos.reseed(int(self._body().get("seed", 0)))
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        return self._json({"seed": self.state.chaos.seed})

    def c_outage(self) -> Response:
        body = self._body() if request.method == "POST" else {}
        try:
            return self._json({"outage": self.state.outage.control(request.method, body)})
        except (TypeError, ValueError) as error:
            return self._fail(str(error))

    # -- the CDN ----------------------------------------------------------------------------

    def cdn_get(self, rest: str) -> Response:
        from sandbox.meta.cdn import PIXEL
        path = "/cdn/" + rest
        status, reason = self.state.cdn.check(path, request.args.get("oh", ""),
                                              request.args.get("oe", ""))
        if status != 200:
            return Response(reason, status=status, content_type="text/plain")
        kind = "video/mp4" if rest.endswith(".mp4") else "image/jpeg"
        return Response(PIXEL, status=200, content_type=kind,
                        headers={"Cache-Control": "max-age=1209600, no-transform"})
