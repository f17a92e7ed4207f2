"""People and conversations as the Graph API shows them: scoped profiles, threads, messages."""
from __future__ import annotations

from typing import Any

from sandbox.meta.constants import HUMAN_AGENT_WINDOW
from sandbox.meta.fields import Field
from sandbox.meta.paging import Call, graph_time
from sandbox.meta.records import FACEBOOK, Message, Person, Thread
from sandbox.meta.render import Maker, Nodes, pick


class InboxNodes(Nodes):
    """People (as the brand's token sees them), threads and messages of ``MetaApi``."""

    # -- people ---------------------------------------------------------------------------

    def person_node(self, person: Person, fields: list[Field] | None) -> dict[str, Any]:
        first, _, last = person.name.partition(" ")
        if person.network == FACEBOOK:
            makers: dict[str, Maker] = {
                "id": lambda f: person.id, "name": lambda f: person.name,
                "first_name": lambda f: first, "last_name": lambda f: last or None}
            return self.node("User", fields, makers)
        makers = {"id": lambda f: person.id, "name": lambda f: person.name,
                  "username": lambda f: person.handle, "follower_count": lambda f: 0,
                  "is_user_follow_business": lambda f: False,
                  "is_business_follow_user": lambda f: False,
                  "is_verified_user": lambda f: False}
        return self.node("InstagramUser", fields, makers)

    # -- conversations ---------------------------------------------------------------------

    def participant(self, network: str, some_id: str) -> dict[str, Any]:
        s = self.state
        if network == FACEBOOK:
            shown = s.display(some_id)
            return {"name": shown["name"], "email": f"{some_id}@facebook.com", "id": some_id}
        return {"username": s.username(some_id), "id": some_id}

    def thread_node(self, call: Call, thread: Thread, fields: list[Field] | None
                    ) -> dict[str, Any]:
        s = self.state
        messages = s.thread_messages(thread)
        people = [self.participant(thread.network, thread.person_id),
                  self.participant(thread.network, s.brand_id(thread.network))]
        open_ = thread.customer_at is not None and \
            s.clock.now() - thread.customer_at <= HUMAN_AGENT_WINDOW
        makers: dict[str, Maker] = {
            "id": lambda f: thread.id,
            "updated_time": lambda f: graph_time(thread.updated_at),
            "participants": lambda f: {"data": [pick(p, f.sub, "Profile") for p in people]},
            "senders": lambda f: {"data": [pick(p, f.sub, "Profile") for p in people]},
            "message_count": lambda f: len(messages),
            "unread_count": lambda f: 0,
            "snippet": lambda f: messages[0].text[:100] if messages else "",
            "link": lambda f: f"/{s.page_id}/inbox/{thread.seq}/",
            "can_reply": lambda f: open_,
            "is_subscribed": lambda f: True,
            "folder": lambda f: "inbox",
            "messages": lambda f: self.messages_edge(call, thread, f),
        }
        return self.node("UnifiedThread", fields, makers)

    def messages_edge(self, call: Call, thread: Thread, spec: Field | None) -> dict[str, Any]:
        items = self.state.thread_messages(thread)
        return self.edge(call, f"{thread.id}/messages", items, lambda m: (-m.seq,),
                         lambda m, sub: self.message_node(call, m, sub), spec)

    def message_node(self, call: Call, message: Message, fields: list[Field] | None
                     ) -> dict[str, Any]:
        network = message.network
        makers: dict[str, Maker] = {
            "id": lambda f: message.id,
            "created_time": lambda f: graph_time(message.created_at),
            "message": lambda f: message.text,
            "from": lambda f: pick(self.participant(network, message.sender_id), f.sub,
                                   "Profile"),
            "to": lambda f: {"data": [pick(self.participant(network, message.recipient_id),
                                           f.sub, "Profile")]},
            "attachments": lambda f: self._message_attachments(message, f.sub),
            "tags": lambda f: {"data": [{"name": "inbox"}, {"name": "read"}]
                               + ([{"name": "source:chat"}] if message.from_brand else [])},
            "is_unsupported": lambda f: False,
        }
        return self.node("Message", fields, makers)

    def _message_attachments(self, message: Message, sub: list[Field] | None
                             ) -> dict[str, Any] | None:
        if not message.media:
            return None
        out = []
        for asset in message.media:
            link = self.state.cdn.link(asset)
            item: dict[str, Any] = {"id": asset["id"], "mime_type": asset["mime_type"],
                                    "name": asset["name"], "size": asset["size"]}
            if asset["type"] == "image":
                item["image_data"] = {"width": asset["width"], "height": asset["height"],
                                      "max_width": asset["width"],
                                      "max_height": asset["height"], "url": link,
                                      "preview_url": link, "image_type": 1,
                                      "render_as_sticker": False}
            elif asset["type"] == "video":
                item["video_data"] = {"width": 1, "height": 1, "length": 1, "video_type": 1,
                                      "url": link, "preview_url": link, "rotation": 0}
            else:
                item["file_url"] = link
            out.append(pick(item, sub, "MessageAttachment"))
        return {"data": out}
