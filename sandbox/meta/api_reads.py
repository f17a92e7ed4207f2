"""Which node an id names, and the reads: nodes, edges, conversations."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sandbox.meta import errors
from sandbox.meta.records import FACEBOOK, INSTAGRAM

if TYPE_CHECKING:
    from sandbox.meta.model import MetaState
    from sandbox.meta.paging import Call

NODE_TYPES = {"page": "Page", "ig_user": "IGUser", "post": "PagePost", "comment": "Comment",
              "ig_media": "IGMedia", "ig_comment": "IGComment", "thread": "UnifiedThread",
              "message": "Message", "app": "Application", "person": "User"}
# Content the app token may not read: Meta's recorded answer (python-facebook
# ``base__error_data.json``).
APP_TOKEN_READ = (
    "(#100) Object does not exist, cannot be loaded due to missing permission or reviewable "
    "feature, or does not support this operation. This endpoint requires the "
    "'pages_read_engagement' permission or the 'Page Public Content Access' feature or the "
    "'Page Public Metadata Access' feature. Refer to "
    "https://developers.facebook.com/docs/apps/review/login-permissions#manage-pages, "
    "https://developers.facebook.com/docs/apps/review/feature#reference-PAGES_ACCESS and "
    "https://developers.facebook.com/docs/apps/review/feature#page-public-metadata-access "
    "for details.")
_NUMERIC = re.compile(r"^[\d_]+$")


class Reads:
    """Reads of ``MetaApi``."""

    state: "MetaState"

    def resolve(self, ident: str, call: Call) -> tuple[str, Any]:
        """(node kind, object) for a path id; Meta's 100/33 or 803 when it names nothing."""
        s = self.state
        grant = call.grant
        if ident == "me":
            if grant is None or grant.kind != "page":
                raise errors.needs_user()
            return "page", None
        if ident == s.page_id or ident.lower() == s.page_handle.lower():
            return "page", None
        if ident == s.ig_user_id:
            return "ig_user", None
        if ident == s.app_id:
            return "app", None
        post = s.live_post(ident)
        if post is not None:
            if post.network == FACEBOOK:
                return "post", post
            if post.kind == "page" or post.tagged:
                return "ig_media", post
        comment = s.live_comment(ident)
        if comment is not None:
            parent_post = s.posts[comment.post_id]
            if comment.network == FACEBOOK:
                return "comment", comment
            if parent_post.kind == "page" or parent_post.tagged:
                return "ig_comment", comment
        thread = s.threads.get(ident)
        if thread is not None:
            return "thread", thread
        message = s.messages.get(ident)
        if message is not None and not message.unsent:
            return "message", message
        person = s.people.get(ident)
        if person is not None:
            return "person", person
        if _NUMERIC.match(ident) or ident.startswith(("m_", "t_", "aWdf")):
            raise errors.unsupported(call.method, ident)
        raise errors.alias_missing(ident)

    @staticmethod
    def bucket(kind: str, obj: Any) -> str:
        """The BUC budget a Page-token call on this node counts against."""
        if kind in ("ig_user", "ig_media", "ig_comment"):
            return "instagram"
        if kind in ("thread", "message", "person") and getattr(obj, "network", "") == INSTAGRAM:
            return "instagram"
        return "pages"

    def read(self, call: Call, kind: str, obj: Any, edge: str | None) -> dict[str, Any]:
        app_token = call.grant is not None and call.grant.kind == "app"
        if app_token and kind != "app" and (kind, edge) != ("page", None):
            raise errors.GraphError(APP_TOKEN_READ, 100)
        fields = self.fields_of(call)
        if kind == "page":
            if edge is None:
                return self.page_node(call, fields)
            if edge == "conversations":
                return self.conversations(call)
            if edge == "subscribed_apps":
                return self.subscribed_apps()
            readers = self.page_edges(call)
            if edge in readers:
                return readers[edge](None)
        elif kind == "ig_user":
            if edge is None:
                return self.ig_user_node(call, fields)
            if edge in ("media", "tags"):
                return self.media_edge(call, edge, None)
            if edge in ("stories", "live_media"):
                return {"data": []}
        elif kind == "post":
            if edge is None:
                return self.post_node(call, obj, fields)
            if edge == "comments":
                return self.comments_edge(call, obj, None)
            if edge == "attachments":
                return self._attachments(obj.media, fields) or {"data": []}
        elif kind == "comment":
            if edge is None:
                return self.comment_node(call, obj, fields)
            if edge == "comments":
                return self.comments_edge(call, obj, None)
        elif kind == "ig_media":
            if edge is None:
                return self.media_node(call, obj, fields)
            if edge == "comments":
                return self.ig_comments_edge(call, obj, None)
        elif kind == "ig_comment":
            if edge is None:
                return self.ig_comment_node(call, obj, fields)
            if edge == "replies":
                if obj.parent_id:
                    return {"data": []}
                return self.ig_comments_edge(call, obj, None)
        elif kind == "thread":
            if edge is None:
                return self.thread_node(call, obj, fields)
            if edge == "messages":
                return self.messages_edge(call, obj, None)
        elif kind == "message":
            if edge is None:
                return self.message_node(call, obj, fields)
            if edge == "attachments":
                return self._message_attachments(obj, fields) or {"data": []}
        elif kind == "person":
            if edge is None:
                return self.person_node(obj, fields)
        elif kind == "app":
            if edge is None:
                return {"name": self.state.app_name, "id": self.state.app_id}
            if edge == "subscriptions":
                return {"data": self.state.hooks.listing()}
        raise self.no_edge(call, kind, obj, edge)

    def no_edge(self, call: Call, kind: str, obj: Any, edge: str | None) -> errors.GraphError:
        node = NODE_TYPES[kind]
        from sandbox.meta.render import vocabulary
        if edge is not None and edge not in vocabulary(node) and kind != "app":
            return errors.nonexisting_field(edge, node)
        ident = getattr(obj, "id", None) or {"page": self.state.page_id,
                                             "ig_user": self.state.ig_user_id,
                                             "app": self.state.app_id}.get(kind, "")
        return errors.unsupported(call.method, ident)

    # -- conversations -------------------------------------------------------------------

    def conversations(self, call: Call) -> dict[str, Any]:
        s = self.state
        platform = str(call.param("platform") or "messenger")
        if platform not in ("messenger", "instagram"):
            raise errors.invalid_param("Param platform must be one of {MESSENGER, INSTAGRAM} - "
                                       f"got \"{platform}\"")
        network = FACEBOOK if platform == "messenger" else INSTAGRAM
        user = call.param("user_id")
        threads = [t for t in s.threads.values() if t.network == network
                   and (not user or t.person_id == str(user))
                   and s.thread_messages(t)]
        threads.sort(key=lambda t: (t.updated_at, t.seq), reverse=True)
        return self.edge(call, f"{s.page_id}/conversations", threads,
                         lambda t: (-t.updated_at, -t.seq),
                         lambda t, sub: self.thread_node(call, t, sub), None)

    def subscribed_apps(self) -> dict[str, Any]:
        s = self.state
        fields = s.hooks.page_fields
        if fields is None:
            return {"data": []}
        return {"data": [{"category": "Business", "link": "https://socialdesk.invalid/",
                          "name": s.app_name, "id": s.app_id, "subscribed_fields": fields}]}
