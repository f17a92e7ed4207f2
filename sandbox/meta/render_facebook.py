"""Facebook nodes as the Graph API shows them: the Page, its posts and their comments."""
from __future__ import annotations

from typing import Any

from sandbox.meta import errors
from sandbox.meta.constants import PRIVATE_REPLY_WINDOW
from sandbox.meta.fields import Field
from sandbox.meta.paging import Call, graph_time, window
from sandbox.meta.records import FACEBOOK, Comment, Post
from sandbox.meta.render import Maker, Nodes, pick


class FacebookNodes(Nodes):
    """The Page, posts (feed, visitor posts, tagged) and comments of ``MetaApi``."""

    def page_node(self, call: Call, fields: list[Field] | None) -> dict[str, Any]:
        s = self.state
        makers: dict[str, Maker] = {
            "id": lambda f: s.page_id,
            "name": lambda f: s.page_name,
            "username": lambda f: s.page_handle,
            "link": lambda f: f"https://www.facebook.com/{s.page_handle}",
            "category": lambda f: "Product/service",
            "about": lambda f: "Support for Socialdesk customers (sandbox).",
            "fan_count": lambda f: 0,
            "followers_count": lambda f: 0,
            "is_published": lambda f: True,
            "is_webhooks_subscribed": lambda f: s.hooks.page_fields is not None,
            "verification_status": lambda f: "not_verified",
            "instagram_business_account": lambda f: pick({"id": s.ig_user_id}, f.sub, "IGUser"),
            "connected_instagram_account": lambda f: pick({"id": s.ig_user_id}, f.sub, "IGUser"),
            "access_token": lambda f: call.token if call.grant and call.grant.kind == "page"
            else None,
        }
        for name, reader in self.page_edges(call).items():
            makers[name] = reader
        return self.node("Page", fields, makers)

    def page_edges(self, call: Call) -> dict[str, Maker]:
        s = self.state
        return {
            "feed": lambda f: self.posts_edge(call, s.page_id, "feed", f),
            "posts": lambda f: self.posts_edge(call, s.page_id, "posts", f),
            "published_posts": lambda f: self.posts_edge(call, s.page_id, "published_posts", f),
            "visitor_posts": lambda f: self.posts_edge(call, s.page_id, "visitor_posts", f),
            "tagged": lambda f: self.posts_edge(call, s.page_id, "tagged", f),
        }

    def page_posts(self, which: str, include_hidden: bool) -> list[Post]:
        s = self.state
        kinds = {"feed": ("page", "visitor"), "posts": ("page",), "published_posts": ("page",),
                 "visitor_posts": ("visitor",), "tagged": ("timeline",)}[which]
        found = [p for p in s.posts.values()
                 if p.network == FACEBOOK and not p.deleted and p.kind in kinds
                 and (which != "tagged" or p.mentions_brand or p.tagged)
                 and (include_hidden or not p.hidden)]
        return sorted(found, key=lambda p: p.seq, reverse=True)

    def posts_edge(self, call: Call, owner: str, which: str, spec: Field | None
                   ) -> dict[str, Any]:
        params = call.params if spec is None else spec.mods
        hidden = str(params.get("include_hidden", "")).lower() == "true"
        holder = Call(call.method, call.version, call.path, params, call.token, call.grant)
        posts = window(self.page_posts(which, hidden), holder, lambda p: p.created_at)
        return self.edge(call, f"{owner}/{which}", posts, lambda p: (-p.seq,),
                         lambda p, sub: self.post_node(call, p, sub), spec)

    def post_node(self, call: Call, post: Post, fields: list[Field] | None) -> dict[str, Any]:
        s = self.state
        number = post.id.split("_")[-1]
        owner = post.id.split("_")[0]
        media = post.media[0] if post.media else None
        makers: dict[str, Maker] = {
            "id": lambda f: post.id,
            "message": lambda f: post.text or None,
            "created_time": lambda f: graph_time(post.created_at),
            "updated_time": lambda f: graph_time(max(post.updated_at, self._last_activity(post))),
            "from": lambda f: pick(s.display(post.author_id), f.sub, "Profile"),
            "permalink_url": lambda f: f"https://www.facebook.com/{owner}/posts/{number}/",
            "is_hidden": lambda f: post.hidden,
            "is_published": lambda f: True,
            "is_expired": lambda f: False,
            "status_type": lambda f: "added_photos" if media else "mobile_status_update",
            "full_picture": lambda f: s.cdn.link(media) if media else None,
            "picture": lambda f: s.cdn.link(media) if media else None,
            "attachments": lambda f: self._attachments(post.media, f.sub),
            "message_tags": lambda f: self._tags(post.text, post.network) or None,
            "to": lambda f: {"data": [s.display(s.page_id)]} if post.kind == "visitor" else None,
            "can_reply_privately": lambda f: self._can_reply_privately(post),
            "comments": lambda f: self.comments_edge(call, post, f),
            "reactions": lambda f: self._empty_edge(f, {"total_count": 0,
                                                         "viewer_reaction": "NONE"}),
            "likes": lambda f: self._empty_edge(f, {"total_count": 0, "can_like": True,
                                                     "has_liked": False}),
            "privacy": lambda f: {"allow": "", "deny": "", "description": "Public",
                                  "friends": "", "value": "EVERYONE"},
        }
        return self.node("PagePost", fields, makers)

    def _last_activity(self, post: Post) -> float:
        times = [c.created_at for c in self.state.comments.values()
                 if c.post_id == post.id and not c.deleted]
        return max(times, default=post.created_at)

    def _tags(self, text: str, network: str) -> list[dict[str, Any]]:
        s = self.state
        handle = "@" + s.brand_handle(network)
        at = text.lower().find(handle.lower())
        if at < 0 or network != FACEBOOK:
            return []
        return [{"id": s.page_id, "name": s.page_name, "type": "page", "offset": at,
                 "length": len(handle)}]

    def _attachment(self, asset: dict[str, Any]) -> dict[str, Any]:
        link = self.state.cdn.link(asset)
        photo = f"https://www.facebook.com/photo.php?fbid={asset['id']}"
        kind = "photo" if asset["type"] == "image" else asset["type"]
        return {"media": {"image": {"height": asset["height"], "src": link,
                                    "width": asset["width"]}},
                "media_type": kind, "target": {"id": asset["id"], "url": photo},
                "type": kind, "url": photo}

    def _attachments(self, media: list[dict[str, Any]], sub: list[Field] | None
                     ) -> dict[str, Any] | None:
        if not media:
            return None
        return {"data": [pick(self._attachment(m), sub, "StoryAttachment") for m in media]}

    @staticmethod
    def _empty_edge(spec: Field, summary: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"data": []}
        if str(spec.mods.get("summary", "")).lower() in ("true", "1", "total_count"):
            body["summary"] = summary
        return body

    def _can_reply_privately(self, target: Post | Comment) -> bool:
        s = self.state
        if s.is_brand(target.author_id) or target.private_reply_mid is not None:
            return False
        if isinstance(target, Post) and target.kind != "visitor":
            return False
        return s.clock.now() - target.created_at <= PRIVATE_REPLY_WINDOW

    def fb_comments(self, post: Post, parent: Comment | None, filter_: str, order: str
                    ) -> list[Comment]:
        s = self.state
        found = [c for c in s.comments.values() if c.post_id == post.id and not c.deleted]
        if parent is not None:
            found = [c for c in found if c.parent_id == parent.id]
        elif filter_ != "stream":
            found = [c for c in found if c.parent_id is None]
        return sorted(found, key=lambda c: c.seq, reverse=order == "reverse_chronological")

    def comments_edge(self, call: Call, target: Post | Comment, spec: Field | None
                      ) -> dict[str, Any]:
        s = self.state
        params = call.params if spec is None else spec.mods
        filter_ = str(params.get("filter") or "toplevel")
        order = str(params.get("order") or "chronological")
        if filter_ not in ("toplevel", "stream"):
            raise errors.invalid_param("Param filter must be one of {toplevel, stream} - got "
                                       f"\"{filter_}\"")
        if order not in ("chronological", "reverse_chronological"):
            raise errors.invalid_param("Param order must be one of {chronological, "
                                       f"reverse_chronological}} - got \"{order}\"")
        if isinstance(target, Post):
            post, parent = target, None
        else:
            post, parent = s.posts[target.post_id], target
        holder = Call(call.method, call.version, call.path, params, call.token, call.grant)
        items = window(self.fb_comments(post, parent, filter_, order), holder,
                       lambda c: c.created_at)
        sign = -1 if order == "reverse_chronological" else 1
        summary = {"order": order, "total_count": len(items), "can_comment": True}
        return self.edge(call, f"{target.id}/comments", items, lambda c: (sign * c.seq,),
                         lambda c, sub: self.comment_node(call, c, sub), spec, summary)

    def comment_node(self, call: Call, comment: Comment, fields: list[Field] | None
                     ) -> dict[str, Any]:
        s = self.state
        post = s.posts[comment.post_id]
        owner, number = post.id.split("_")[0], post.id.split("_")[-1]
        top = comment.parent_id or comment.id
        link = f"https://www.facebook.com/{owner}/posts/{number}/?comment_id={top.split('_')[-1]}"
        if comment.parent_id:
            link += f"&reply_comment_id={comment.id.split('_')[-1]}"
        parent = s.comments.get(comment.parent_id or "")
        replies = [c for c in s.comments.values() if c.parent_id == comment.id and not c.deleted]
        makers: dict[str, Maker] = {
            "id": lambda f: comment.id,
            "message": lambda f: comment.text,
            "created_time": lambda f: graph_time(comment.created_at),
            "from": lambda f: pick(s.display(comment.author_id), f.sub, "Profile"),
            "parent": lambda f: self.comment_node(call, parent, f.sub) if parent else None,
            "attachment": lambda f: pick(self._attachment(comment.media[0]), f.sub,
                                         "StoryAttachment") if comment.media else None,
            "permalink_url": lambda f: link,
            "is_hidden": lambda f: comment.hidden,
            "is_private": lambda f: False,
            "can_reply_privately": lambda f: self._can_reply_privately(comment),
            "can_hide": lambda f: not s.is_brand(comment.author_id),
            "can_remove": lambda f: True,
            "can_comment": lambda f: True,
            "can_like": lambda f: True,
            "comment_count": lambda f: len(replies),
            "like_count": lambda f: 0,
            "user_likes": lambda f: False,
            "message_tags": lambda f: self._tags(comment.text, FACEBOOK) or None,
            "object": lambda f: pick({"id": post.id, "created_time": graph_time(post.created_at)},
                                     f.sub, "PagePost"),
            "private_reply_conversation": lambda f: self._private_thread(comment, f),
            "comments": lambda f: self.comments_edge(call, comment, f),
            "reactions": lambda f: self._empty_edge(f, {"total_count": 0,
                                                         "viewer_reaction": "NONE"}),
            "likes": lambda f: self._empty_edge(f, {"total_count": 0}),
        }
        return self.node("Comment", fields, makers)

    def _private_thread(self, target: Comment, spec: Field) -> dict[str, Any] | None:
        message = self.state.messages.get(target.private_reply_mid or "")
        return pick({"id": message.thread_id}, spec.sub, "UnifiedThread") if message else None
