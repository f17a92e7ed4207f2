"""Instagram nodes as the Graph API shows them: the account, its media and comments."""
from __future__ import annotations

from typing import Any, Callable

from sandbox.meta import errors
from sandbox.meta.fields import Field
from sandbox.meta.paging import Call, graph_time, window
from sandbox.meta.records import FACEBOOK, Comment, Post
from sandbox.meta.render import Maker, Nodes, pick


class InstagramNodes(Nodes):
    """The Instagram account, media (own and tagged), comments and replies of ``MetaApi``."""

    def ig_user_node(self, call: Call, fields: list[Field] | None) -> dict[str, Any]:
        s = self.state
        own = [p for p in s.posts.values() if p.network != FACEBOOK and p.kind == "page"
               and not p.deleted]
        makers: dict[str, Maker] = {
            "id": lambda f: s.ig_user_id,
            "username": lambda f: s.ig_handle,
            "name": lambda f: s.page_name,
            "ig_id": lambda f: int(s.ig_user_id[-10:]),
            "biography": lambda f: "Support for Socialdesk customers (sandbox).",
            "followers_count": lambda f: 0,
            "follows_count": lambda f: 0,
            "media_count": lambda f: len(own),
            "profile_picture_url": lambda f: None,
            "website": lambda f: None,
            "mentioned_comment": lambda f: self._mentioned_comment(call, f),
            "mentioned_media": lambda f: self._mentioned_media(call, f),
            "media": lambda f: self.media_edge(call, "media", f),
            "tags": lambda f: self.media_edge(call, "tags", f),
            "stories": lambda f: {"data": []},
            "live_media": lambda f: {"data": []},
        }
        return self.node("IGUser", fields, makers)

    def _mentioned_comment(self, call: Call, spec: Field) -> dict[str, Any]:
        s = self.state
        wanted = spec.mods.get("comment_id")
        if not wanted:
            raise errors.invalid_param("mentioned_comment requires the comment_id modifier")
        comment = s.live_comment(wanted)
        if comment is None or comment.network == FACEBOOK or not comment.mentions_brand:
            raise errors.invalid_param(f"Invalid comment_id: {wanted}")
        return self.ig_comment_node(call, comment, spec.sub)

    def _mentioned_media(self, call: Call, spec: Field) -> dict[str, Any]:
        s = self.state
        wanted = spec.mods.get("media_id")
        if not wanted:
            raise errors.invalid_param("mentioned_media requires the media_id modifier")
        media = s.live_post(wanted)
        if media is None or media.network == FACEBOOK or not (
                media.mentions_brand or any(c.mentions_brand and c.post_id == media.id
                                            for c in s.comments.values())):
            raise errors.invalid_param(f"Invalid media_id: {wanted}")
        return self.media_node(call, media, spec.sub)

    def ig_media(self, which: str) -> list[Post]:
        s = self.state
        if which == "media":
            found = [p for p in s.posts.values() if p.network != FACEBOOK and p.kind == "page"]
        else:
            found = [p for p in s.posts.values() if p.network != FACEBOOK and p.tagged]
        return sorted((p for p in found if not p.deleted), key=lambda p: p.seq, reverse=True)

    def media_edge(self, call: Call, which: str, spec: Field | None) -> dict[str, Any]:
        params = call.params if spec is None else spec.mods
        holder = Call(call.method, call.version, call.path, params, call.token, call.grant)
        items = window(self.ig_media(which), holder, lambda p: p.created_at)
        return self.edge(call, f"{self.state.ig_user_id}/{which}", items, lambda p: (-p.seq,),
                         lambda p, sub: self.media_node(call, p, sub), spec)

    def media_node(self, call: Call, media: Post, fields: list[Field] | None
                   ) -> dict[str, Any]:
        s = self.state
        asset = media.media[0] if media.media else None
        comments = [c for c in s.comments.values() if c.post_id == media.id and not c.deleted]
        media_type = {"video": "VIDEO"}.get(asset["type"] if asset else "", "IMAGE")
        makers: dict[str, Maker] = {
            "id": lambda f: media.id,
            "caption": lambda f: media.text or None,
            "timestamp": lambda f: graph_time(media.created_at),
            "permalink": lambda f: f"https://www.instagram.com/p/{media.shortcode}/",
            "shortcode": lambda f: media.shortcode,
            "comments_count": lambda f: len(comments),
            "like_count": lambda f: 0,
            "media_type": lambda f: media_type,
            "media_product_type": lambda f: "FEED",
            "media_url": lambda f: s.cdn.link(asset) if asset else None,
            "thumbnail_url": lambda f: s.cdn.link(asset) if asset and media_type == "VIDEO"
            else None,
            "username": lambda f: s.username(media.author_id),
            "owner": lambda f: pick({"id": media.author_id}, f.sub, "IGUser")
            if media.kind == "page" else None,
            "is_comment_enabled": lambda f: True,
            "comments": lambda f: self.ig_comments_edge(call, media, f),
            "children": lambda f: None,
        }
        return self.node("IGMedia", fields, makers)

    def ig_comments_edge(self, call: Call, target: Post | Comment, spec: Field | None
                         ) -> dict[str, Any]:
        """Top-level comments of a media, newest first; or a comment's replies, oldest first."""
        s = self.state
        if isinstance(target, Post):
            items = sorted((c for c in s.comments.values() if c.post_id == target.id
                            and c.parent_id is None and not c.deleted),
                           key=lambda c: c.seq, reverse=True)
            key: Callable[[Comment], Any] = lambda c: (-c.seq,)
            path = f"{target.id}/comments"
        else:
            items = sorted((c for c in s.comments.values() if c.parent_id == target.id
                            and not c.deleted), key=lambda c: c.seq)
            key = lambda c: (c.seq,)
            path = f"{target.id}/replies"
        return self.edge(call, path, items, key,
                         lambda c, sub: self.ig_comment_node(call, c, sub), spec)

    def ig_comment_node(self, call: Call, comment: Comment, fields: list[Field] | None
                        ) -> dict[str, Any]:
        s = self.state
        makers: dict[str, Maker] = {
            "id": lambda f: comment.id,
            "text": lambda f: comment.text,
            "timestamp": lambda f: graph_time(comment.created_at),
            "username": lambda f: s.username(comment.author_id),
            "from": lambda f: pick(s.ig_display(comment.author_id), f.sub, "IGCommentFromUser"),
            "like_count": lambda f: 0,
            "hidden": lambda f: comment.hidden,
            "media": lambda f: pick({"id": comment.post_id, "media_product_type": "FEED"},
                                    f.sub, "IGMedia"),
            "parent_id": lambda f: comment.parent_id,
            "user": lambda f: pick({"id": s.ig_user_id}, f.sub, "IGUser")
            if comment.author_id == s.ig_user_id else None,
            "replies": lambda f: self.ig_comments_edge(call, comment, f),
        }
        return self.node("IGComment", fields, makers)
