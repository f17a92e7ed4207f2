"""Everything the stand-in knows, in memory: ``MetaState``.

One Facebook Page and the Instagram professional account connected to it (the brand),
the people who write to them, and what each action sends to the webhook subscribers.
The control API (``control``) and the Graph API (``api_*``) both act through the
methods here, so the webhook a change sends is the same whoever made the change.
"""
from __future__ import annotations

import base64
import itertools
import re
import secrets
import string
import threading
from typing import Any, Iterable

from sandbox.common import Chaos, Clock, Outage
from sandbox.meta.cdn import Cdn
from sandbox.meta.constants import VERSION
from sandbox.meta.records import FACEBOOK, INSTAGRAM, Comment, Message, Person, Post, Thread
from sandbox.meta.tokens import Tokens
from sandbox.meta.usage import Usage
from sandbox.meta.webhooks import Webhooks

HANDLE_RE = re.compile(r"^[A-Za-z0-9._]{1,30}$")


def _digits(count: int, first: str = "1") -> str:
    return first + "".join(secrets.choice(string.digits) for _ in range(count - 1))


class MetaState:
    """The Page, the Instagram account, people, posts, comments, threads, messages,
    tokens, usage budgets, webhook subscriptions, faults and the call log."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.url = str(settings.get("url", "")).rstrip("/")
        self.version = str(settings.get("version") or VERSION)
        self.page_id = str(settings.get("page_id") or _digits(15))
        self.page_handle = str(settings.get("page_handle") or "socialdesk_demo")
        self.page_name = str(settings.get("page_name") or "Socialdesk Demo")
        self.ig_user_id = str(settings.get("ig_user_id") or "17841" + _digits(12, "4"))
        self.ig_handle = str(settings.get("ig_handle") or "socialdesk_demo")
        self.app_id = str(settings.get("app_id") or _digits(16))
        self.app_secret = str(settings.get("app_secret") or secrets.token_hex(16))
        self.app_name = "socialdesk sandbox"
        self.admin_user_id = _digits(16)
        self.verify_token = str(settings.get("verify_token") or secrets.token_urlsafe(18))
        self.tokens = Tokens(self.clock, self.app_id, self.app_secret,
                             settings.get("page_token"))
        self.usage = Usage(self.clock)
        self.cdn = Cdn(self.clock, self.url)
        self.hooks = Webhooks(self.clock, self.app_secret, int(settings.get("seed", 0)))
        self.chaos = Chaos(int(settings.get("seed", 0)))
        self.outage = Outage(self.clock)
        self._fault_ids = itertools.count(1)
        # Graph object numbers: Facebook's 15-17 digit ones, Instagram's 17-18 digit ones.
        self._fb_seq = itertools.count(int(_digits(15)) * 10)
        self._ig_seq = itertools.count(int("179" + _digits(14, "1")))
        self._person_seq = itertools.count(int(_digits(16, "2")))
        self._order = itertools.count(1)
        self.reset()

    # -- life cycle ---------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all content, faults, budgets and webhook subscriptions; the brand, the app
        and the credentials stay (tokens work again). One Page post and one Instagram media
        by the brand exist afterwards, so a customer always has something to comment on."""
        with self.lock:
            self.people: dict[str, Person] = {}
            self.handles: dict[tuple[str, str], str] = {}
            self.posts: dict[str, Post] = {}
            self.comments: dict[str, Comment] = {}
            self.threads: dict[str, Thread] = {}
            self.thread_of: dict[tuple[str, str], str] = {}
            self.messages: dict[str, Message] = {}
            self.faults: list[dict[str, Any]] = []
            self.calls: list[dict[str, Any]] = []
            self.chaos.clear()
            self.chaos.reseed(self.chaos.seed)
            self.outage.clear()
            self.tokens.restore()
            self.usage.reset()
            self.cdn.reset()
            self.hooks.reset()
            self.create_post(FACEBOOK, self.page_id, "Welcome to our Page! Ask us anything.")
            self.create_post(INSTAGRAM, self.ig_user_id, "Hello from the team.",
                             media=[{"type": "image"}])

    # -- identities -----------------------------------------------------------------------

    def brand_id(self, network: str) -> str:
        return self.page_id if network == FACEBOOK else self.ig_user_id

    def is_brand(self, some_id: str) -> bool:
        return some_id in (self.page_id, self.ig_user_id)

    def brand_handle(self, network: str) -> str:
        return self.page_handle if network == FACEBOOK else self.ig_handle

    def person(self, network: str, handle: str) -> Person:
        """The person with ``handle`` on ``network``, made on first use."""
        if not HANDLE_RE.match(handle or ""):
            raise ValueError(f"not a valid handle: {handle!r}")
        with self.lock:
            known = self.handles.get((network, handle.lower()))
            if known:
                return self.people[known]
            name = " ".join(p.capitalize() for p in re.split(r"[._]", handle) if p) or handle
            found = Person(id=str(next(self._person_seq)), network=network, handle=handle,
                           name=name)
            self.people[found.id] = found
            self.handles[(network, handle.lower())] = found.id
            return found

    def author_ids(self, who: str) -> set[str]:
        """Every id ``who`` (a handle, a person id, the Page id or the IG user id) stands for."""
        if who in self.people or self.is_brand(who):
            return {who}
        found = {pid for (_, handle), pid in self.handles.items() if handle == who.lower()}
        if who.lower() == self.page_handle.lower():
            found.add(self.page_id)
        if who.lower() == self.ig_handle.lower():
            found.add(self.ig_user_id)
        return found

    def display(self, some_id: str) -> dict[str, str]:
        """``from`` of a Facebook object: {name, id}."""
        if some_id == self.page_id:
            return {"name": self.page_name, "id": self.page_id}
        person = self.people.get(some_id)
        return {"name": person.name if person else "Facebook User", "id": some_id}

    def ig_display(self, some_id: str) -> dict[str, str]:
        """``from`` of an Instagram object: {id, username}."""
        if some_id == self.ig_user_id:
            return {"id": self.ig_user_id, "username": self.ig_handle}
        person = self.people.get(some_id)
        return {"id": some_id, "username": person.handle if person else ""}

    def username(self, some_id: str) -> str:
        return self.ig_display(some_id)["username"]

    # -- content --------------------------------------------------------------------------

    def mentions(self, network: str, text: str) -> bool:
        return re.search(rf"(?<![\w.])@{re.escape(self.brand_handle(network))}\b", text,
                         re.IGNORECASE) is not None

    def create_post(self, network: str, author_id: str, text: str, *, kind: str | None = None,
                    media: Iterable[dict[str, Any]] = (), tagged: bool = False) -> Post:
        """A post (Facebook) or media (Instagram). The brand's are ``page`` posts; a
        person's ``visitor`` post is on the Page, a ``timeline`` one on their own profile."""
        with self.lock:
            now = self.clock.now()
            brand = self.is_brand(author_id)
            kind = "page" if brand else (kind or "timeline")
            if network == FACEBOOK:
                number = str(next(self._fb_seq))
                owner = self.page_id if kind in ("page", "visitor") else author_id
                post_id = f"{owner}_{number}"
            else:
                post_id = str(next(self._ig_seq))
            post = Post(id=post_id, network=network, kind=kind, author_id=author_id, text=text,
                        created_at=now, updated_at=now, seq=next(self._order),
                        media=[self.cdn.asset(m) for m in media],
                        mentions_brand=not brand and self.mentions(network, text),
                        tagged=tagged and not brand,
                        shortcode=_shortcode() if network == INSTAGRAM else "")
            self.posts[post.id] = post
            self._announce_post(post, "add")
            return post

    def top_comment(self, target: Post | Comment) -> tuple[Post, Comment | None]:
        if isinstance(target, Post):
            return target, None
        parent = self.comments[target.parent_id] if target.parent_id else target
        return self.posts[target.post_id], parent

    def create_comment(self, target: Post | Comment, author_id: str, text: str, *,
                       media: Iterable[dict[str, Any]] = ()) -> Comment:
        """A comment on a post, or a reply under a comment (always to its top-level one)."""
        with self.lock:
            post, parent = self.top_comment(target)
            network = post.network
            if network == FACEBOOK:
                comment_id = f"{post.id.split('_')[-1]}_{next(self._fb_seq)}"
            else:
                comment_id = str(next(self._ig_seq))
            comment = Comment(id=comment_id, network=network, post_id=post.id,
                              author_id=author_id, text=text, created_at=self.clock.now(),
                              seq=next(self._order), parent_id=parent.id if parent else None,
                              media=[self.cdn.asset(m) for m in media],
                              mentions_brand=not self.is_brand(author_id)
                              and self.mentions(network, text))
            self.comments[comment.id] = comment
            self._announce_comment(comment, "add")
            return comment

    def thread_with(self, network: str, person_id: str) -> Thread:
        with self.lock:
            known = self.thread_of.get((network, person_id))
            if known:
                return self.threads[known]
            seq = next(self._order)
            if network == FACEBOOK:
                thread_id = f"t_{next(self._fb_seq)}"
            else:
                raw = f"ig_message_thread:1:IGMessageThread:{self.ig_user_id}:{seq}{person_id}"
                thread_id = _b64(raw)
            thread = Thread(id=thread_id, network=network, person_id=person_id, seq=seq,
                            updated_at=self.clock.now())
            self.threads[thread.id] = thread
            self.thread_of[(network, person_id)] = thread.id
            return thread

    def create_message(self, network: str, person_id: str, text: str, *, from_brand: bool,
                       media: Iterable[dict[str, Any]] = (), messaging_type: str | None = None,
                       tag: str | None = None, private_reply_to: str | None = None) -> Message:
        """A DM in the thread between the brand and ``person_id``, either way. A person's
        message opens (re-opens) the thread's messaging windows."""
        with self.lock:
            thread = self.thread_with(network, person_id)
            now = self.clock.now()
            seq = next(self._order)
            if network == FACEBOOK:
                mid = "m_" + secrets.token_urlsafe(64)[:86]
            else:
                mid = _b64(f"ig_message_item:1:IGMessageThread:{self.ig_user_id}:"
                           f"{seq}{secrets.randbelow(10**30)}")
            brand = self.brand_id(network)
            message = Message(id=mid, network=network, thread_id=thread.id,
                              sender_id=brand if from_brand else person_id,
                              recipient_id=person_id if from_brand else brand, text=text,
                              created_at=now, seq=seq, from_brand=from_brand,
                              media=[self.cdn.asset(m) for m in media],
                              messaging_type=messaging_type, tag=tag,
                              private_reply_to=private_reply_to)
            self.messages[mid] = message
            thread.messages.append(mid)
            thread.updated_at = now
            if not from_brand:
                thread.customer_at = now
            self._announce_message(message)
            return message

    # -- changes (each sends the webhook Meta sends) ---------------------------------------

    def edit(self, obj: Post | Comment | Message, text: str) -> None:
        with self.lock:
            now = self.clock.now()
            obj.text = text
            if isinstance(obj, Post):
                obj.updated_at = now
                self._announce_post(obj, "edited")
            elif isinstance(obj, Comment):
                obj.edited_at = now
                self._announce_comment(obj, "edited")
            else:
                obj.edits += 1
                self._announce_edit(obj)

    def delete(self, obj: Post | Comment) -> None:
        with self.lock:
            if obj.deleted:
                return
            obj.deleted = True
            if isinstance(obj, Post):
                self._announce_post(obj, "remove")
                for comment in self.comments.values():
                    if comment.post_id == obj.id:
                        comment.deleted = True
            else:
                self._announce_comment(obj, "remove")
                for reply in self.comments.values():
                    if reply.parent_id == obj.id:
                        reply.deleted = True

    def set_hidden(self, obj: Post | Comment, hidden: bool) -> None:
        with self.lock:
            if obj.hidden == hidden:
                return
            obj.hidden = hidden
            verb = "hide" if hidden else "unhide"
            if isinstance(obj, Post):
                self._announce_post(obj, verb)
            else:
                self._announce_comment(obj, verb)

    def unsend(self, message: Message) -> None:
        with self.lock:
            if message.unsent:
                return
            message.unsent = True
            self._announce_unsend(message)

    # -- lookups --------------------------------------------------------------------------

    def live_post(self, post_id: str) -> Post | None:
        post = self.posts.get(post_id)
        return post if post is not None and not post.deleted else None

    def live_comment(self, comment_id: str) -> Comment | None:
        comment = self.comments.get(comment_id)
        return comment if comment is not None and not comment.deleted else None

    def latest_brand_post(self, network: str) -> Post | None:
        own = [p for p in self.posts.values()
               if p.network == network and p.kind == "page" and not p.deleted]
        return max(own, key=lambda p: p.seq) if own else None

    def thread_messages(self, thread: Thread) -> list[Message]:
        """Newest first, unsent ones left out (as the inbox shows them)."""
        found = [self.messages[m] for m in thread.messages if not self.messages[m].unsent]
        return sorted(found, key=lambda m: m.seq, reverse=True)

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        from sandbox.common import match_fault
        with self.lock:
            fault = match_fault(self.faults, method, (path,))
            self.faults[:] = [f for f in self.faults if f["count"] > 0]
            return fault

    # -- webhook payloads (shapes as in the RestFB fixtures of Meta's deliveries) ----------

    def _announce_post(self, post: Post, verb: str) -> None:
        if post.network == INSTAGRAM:
            if verb == "add" and post.mentions_brand:
                # A caption @mention: ``mentions`` with the media id alone.
                self.hooks.emit(INSTAGRAM, self.ig_user_id, "mentions",
                                change={"media_id": post.id})
            return
        when = int(self.clock.now())
        if post.kind == "timeline":
            if post.mentions_brand and verb == "add":
                self.hooks.emit("page", self.page_id, "mention", change={
                    "message": post.text, "post_id": post.id,
                    "created_time": int(post.created_at), "item": "post", "verb": "add"})
            return
        # The Page's own text posts are ``status`` items, a visitor's ``post`` items, photos
        # ``photo`` items (RestFB fixtures feed-status-add, feed-post-add, feed-photo-add).
        item = "post" if post.kind == "visitor" else "status"
        value: dict[str, Any] = {"from": self.display(post.author_id), "post_id": post.id,
                                 "created_time": int(post.created_at), "item": item,
                                 "verb": verb, "published": 1}
        if verb in ("add", "edited"):
            value["message"] = post.text
        if verb == "add":
            value["is_hidden"] = post.hidden
        if post.media and verb == "add":
            value["item"] = "photo"
            value["link"] = self.cdn.link(post.media[0])
            value["photo_id"] = post.media[0]["id"]
        if verb in ("remove", "hide", "unhide"):
            value["item"] = "post"
            value["created_time"] = when
        if post.kind == "visitor":
            value["recipient_id"] = self.page_id
        self.hooks.emit("page", self.page_id, "feed", change=value)

    def _announce_comment(self, comment: Comment, verb: str) -> None:
        post = self.posts[comment.post_id]
        if comment.network == INSTAGRAM:
            if verb != "add":
                return  # Instagram sends no webhook for edits, removals or hiding
            if post.kind == "page":
                value: dict[str, Any] = {
                    "from": self.ig_display(comment.author_id),
                    "media": {"id": post.id, "media_product_type": "FEED"},
                    "id": comment.id, "text": comment.text}
                if comment.parent_id:
                    value["parent_id"] = comment.parent_id
                self.hooks.emit(INSTAGRAM, self.ig_user_id, "comments", change=value)
            elif comment.mentions_brand:
                self.hooks.emit(INSTAGRAM, self.ig_user_id, "mentions",
                                change={"comment_id": comment.id, "media_id": post.id})
            return
        if post.kind == "timeline":
            if comment.mentions_brand and verb == "add":
                self.hooks.emit("page", self.page_id, "mention", change={
                    "message": comment.text, "post_id": post.id, "comment_id": comment.id,
                    "created_time": int(comment.created_at), "item": "comment", "verb": "add"})
            return
        value = {"from": self.display(comment.author_id), "post_id": post.id,
                 "comment_id": comment.id, "parent_id": comment.parent_id or post.id,
                 "created_time": int(comment.created_at), "item": "comment", "verb": verb}
        if verb in ("add", "edited", "hide", "unhide"):
            value["message"] = comment.text
        if verb == "edited":
            value["created_time"] = int(comment.edited_at or comment.created_at)
        if comment.media and verb in ("add", "edited"):
            value["photo"] = self.cdn.link(comment.media[0])
        self.hooks.emit("page", self.page_id, "feed", change=value)

    def _messaging(self, message: Message) -> dict[str, Any]:
        return {"sender": {"id": message.sender_id}, "recipient": {"id": message.recipient_id},
                "timestamp": int(message.created_at * 1000)}

    def _object(self, network: str) -> tuple[str, str]:
        return ("page", self.page_id) if network == FACEBOOK else (INSTAGRAM, self.ig_user_id)

    def _announce_message(self, message: Message) -> None:
        obj, entry = self._object(message.network)
        body: dict[str, Any] = {"mid": message.id}
        if message.text:
            body["text"] = message.text
        if message.media:
            body["attachments"] = [{"type": m["type"], "payload": {"url": self.cdn.link(m)}}
                                   for m in message.media]
        field = "messages"
        if message.from_brand:
            body["is_echo"] = True
            body["app_id"] = int(self.app_id)
            if message.network == FACEBOOK:
                field = "message_echoes"
        event = self._messaging(message)
        event["message"] = body
        self.hooks.emit(obj, entry, field, messaging=event)

    def _announce_edit(self, message: Message) -> None:
        obj, entry = self._object(message.network)
        event = self._messaging(message)
        event["timestamp"] = int(self.clock.now() * 1000)
        event["message_edit"] = {"mid": message.id, "text": message.text,
                                 "num_edit": message.edits}
        field = "message_edits" if message.network == FACEBOOK else "message_edit"
        self.hooks.emit(obj, entry, field, messaging=event)

    def _announce_unsend(self, message: Message) -> None:
        obj, entry = self._object(message.network)
        event = self._messaging(message)
        event["timestamp"] = int(self.clock.now() * 1000)
        event["message"] = {"mid": message.id, "is_deleted": True}
        self.hooks.emit(obj, entry, "messages", messaging=event)


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _shortcode() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits + "_-")
                   for _ in range(11))
