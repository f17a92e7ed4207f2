"""Writes as the Page: posts, comments and replies, hiding, deleting, editing; Instagram
comments and replies; the Page's and the app's webhook subscriptions."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sandbox.meta import errors
from sandbox.meta.records import Comment, Post

if TYPE_CHECKING:
    from sandbox.meta.model import MetaState
    from sandbox.meta.paging import Call

TRUE = ("true", "1")
FALSE = ("false", "0")


def _flag(value: Any, name: str) -> bool:
    text = str(value).lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise errors.invalid_param(f"Param {name} must be a boolean")


def _list(value: Any) -> list[str]:
    """A list parameter: ``a,b``, ``["a","b"]`` or a JSON array sent as JSON."""
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value or "").strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            raise errors.invalid_param("Param fields must be an array") from None
    return [part.strip() for part in text.split(",") if part.strip()]


class Writes:
    """Writes of ``MetaApi``."""

    state: "MetaState"

    def write(self, call: Call, kind: str, obj: Any, edge: str | None) -> dict[str, Any] | None:
        """The answer of a POST or DELETE, or None when the node has no such write."""
        method = call.method
        if call.grant is not None and call.grant.kind == "app" and kind != "app":
            raise errors.permission("This action requires a Page access token")
        if kind == "app" and edge == "subscriptions":
            return self.app_subscriptions(call)
        if kind in ("page", "ig_user") and edge == "messages" and method == "POST":
            return self.send(call)
        if kind == "page":
            if edge == "subscribed_apps":
                return self.page_subscription(call)
            if edge == "feed" and method == "POST":
                return self.page_post(call)
        if kind == "post" and edge is None:
            return self.change_post(call, obj) if method == "POST" else self.remove(obj)
        if kind in ("post", "comment") and edge == "comments" and method == "POST":
            return self.fb_comment(call, obj)
        if kind == "comment" and edge is None:
            return self.change_comment(call, obj) if method == "POST" else self.remove(obj)
        if kind == "ig_media" and edge == "comments" and method == "POST":
            return self.ig_comment(call, obj)
        if kind == "ig_comment" and edge == "replies" and method == "POST":
            return self.ig_reply(call, obj)
        if kind == "ig_comment" and edge is None:
            if method == "DELETE":
                return self.remove(obj)
            if "hide" in call.params:
                self.state.set_hidden(obj, _flag(call.params["hide"], "hide"))
                return {"success": True}
        return None

    # -- Facebook -------------------------------------------------------------------------

    def _text(self, call: Call, required: bool = True) -> str:
        text = call.param("message")
        if text is None:
            text = call.param("text")
        text = "" if text is None else str(text)
        if required and not text.strip() and not call.param("attachment_url") \
                and not call.param("attachment_id"):
            raise errors.invalid_param("Missing message or attachment")
        return text

    def _media(self, call: Call) -> list[dict[str, Any]]:
        if call.param("attachment_url") or call.param("attachment_id"):
            return [{"type": "image"}]
        return []

    def page_post(self, call: Call) -> dict[str, Any]:
        post = self.state.create_post("facebook", self.state.page_id, self._text(call),
                                      media=self._media(call))
        return {"id": post.id}

    def fb_comment(self, call: Call, target: Post | Comment) -> dict[str, Any]:
        """``POST /{object-id}/comments``: the Page comments, or replies under a comment (a
        reply to a reply lands under the top-level comment, as on Facebook)."""
        comment = self.state.create_comment(target, self.state.page_id, self._text(call),
                                            media=self._media(call))
        return {"id": comment.id}

    def change_post(self, call: Call, post: Post) -> dict[str, Any]:
        s = self.state
        if "is_hidden" in call.params:
            if post.kind != "visitor":
                raise errors.invalid_param("Only visitor posts can be hidden by the Page")
            s.set_hidden(post, _flag(call.params["is_hidden"], "is_hidden"))
            return {"success": True}
        if "message" in call.params:
            if not s.is_brand(post.author_id):
                raise errors.permission("Permissions error")
            s.edit(post, self._text(call))
            return {"success": True}
        raise errors.invalid_param("No field to update was given")

    def change_comment(self, call: Call, comment: Comment) -> dict[str, Any]:
        s = self.state
        if "is_hidden" in call.params:
            if s.is_brand(comment.author_id):
                raise errors.invalid_param("A Page cannot hide its own comment")
            s.set_hidden(comment, _flag(call.params["is_hidden"], "is_hidden"))
            return {"success": True}
        if "message" in call.params:
            if not s.is_brand(comment.author_id):
                raise errors.permission("Permissions error")
            s.edit(comment, self._text(call))
            return {"success": True}
        raise errors.invalid_param("No field to update was given")

    def remove(self, obj: Post | Comment) -> dict[str, Any]:
        s = self.state
        if isinstance(obj, Post) and obj.kind == "timeline":
            raise errors.permission("Permissions error")
        s.delete(obj)
        return {"success": True}

    # -- Instagram ------------------------------------------------------------------------

    def ig_comment(self, call: Call, media: Post) -> dict[str, Any]:
        if media.kind != "page":
            raise errors.unsupported("POST", media.id)
        comment = self.state.create_comment(media, self.state.ig_user_id, self._text(call))
        return {"id": comment.id}

    def ig_reply(self, call: Call, comment: Comment) -> dict[str, Any]:
        """``POST /{ig-comment-id}/replies``: top-level comments only, not hidden ones."""
        if comment.parent_id:
            raise errors.reply_to_reply()
        if comment.hidden:
            raise errors.reply_to_hidden()
        reply = self.state.create_comment(comment, self.state.ig_user_id, self._text(call))
        return {"id": reply.id}

    # -- webhooks -------------------------------------------------------------------------

    def page_subscription(self, call: Call) -> dict[str, Any]:
        hooks = self.state.hooks
        if call.method == "DELETE":
            hooks.set_page_fields(None)
            return {"success": True}
        fields = _list(call.param("subscribed_fields"))
        hooks.set_page_fields(fields)
        return {"success": True}

    def app_subscriptions(self, call: Call) -> dict[str, Any]:
        if call.grant is None or call.grant.kind != "app":
            raise errors.needs_app_token()
        hooks = self.state.hooks
        obj = str(call.param("object") or "")
        if call.method == "DELETE":
            hooks.unsubscribe(obj or None, _list(call.param("fields")))
            return {"success": True}
        include = str(call.param("include_values", "true")).lower() != "false"
        hooks.subscribe(obj, str(call.param("callback_url") or ""), _list(call.param("fields")),
                        str(call.param("verify_token") or ""), include)
        return {"success": True}
