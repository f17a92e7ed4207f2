"""Everything the stand-in knows, in memory: ``MetaState``.

One Facebook Page and the Instagram professional account connected to it (the brand),
the people who write to them and what they write. The control API (``control``) and the
Graph API (``api_*``) both act through the methods here, and each change goes out through
``announce``, so the webhook a change sends is the same whoever made the change; ``ids``
gives what is made its id.
"""
from __future__ import annotations

import itertools
import re
import secrets
import threading
from typing import Any, Iterable

from sandbox.common import Chaos, Clock, Outage
from sandbox.meta.announce import Announcer
from sandbox.meta.cdn import Cdn
from sandbox.meta.constants import VERSION
from sandbox.meta.ids import GraphIds, digits
from sandbox.meta.records import FACEBOOK, INSTAGRAM, Comment, Message, Person, Post, Thread
from sandbox.meta.tokens import Tokens
from sandbox.meta.usage import Usage
from sandbox.meta.webhooks import Webhooks

HANDLE_RE = re.compile(r"^[A-Za-z0-9._]{1,30}$")


class MetaState:
    """The Page, the Instagram account, people, posts, comments, threads, messages,
    tokens, usage budgets, webhook subscriptions, faults and the call log."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.url = str(settings.get("url", "")).rstrip("/")
        self.version = str(settings.get("version") or VERSION)
        self.page_id = str(settings.get("page_id") or digits(15))
        self.page_handle = str(settings.get("page_handle") or "socialdesk_demo")
        self.page_name = str(settings.get("page_name") or "Socialdesk Demo")
        self.ig_user_id = str(settings.get("ig_user_id") or "17841" + digits(12, "4"))
        self.ig_handle = str(settings.get("ig_handle") or "socialdesk_demo")
        self.app_id = str(settings.get("app_id") or digits(16))
        self.app_secret = str(settings.get("app_secret") or secrets.token_hex(16))
        self.app_name = "socialdesk sandbox"
        self.admin_user_id = digits(16)
        self.verify_token = str(settings.get("verify_token") or secrets.token_urlsafe(18))
        self.tokens = Tokens(self.clock, self.app_id, self.app_secret,
                             settings.get("page_token"))
        self.usage = Usage(self.clock)
        self.cdn = Cdn(self.clock, self.url)
        self.hooks = Webhooks(self.clock, self.app_secret, int(settings.get("seed", 0)))
        self.chaos = Chaos(int(settings.get("seed", 0)))
        self.outage = Outage(self.clock)
        self._fault_ids = itertools.count(1)
        self.ids = GraphIds(self.ig_user_id)
        self.announce = Announcer(self)
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
            found = Person(id=self.ids.person(), network=network, handle=handle, name=name)
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
            owner = self.page_id if kind in ("page", "visitor") else author_id
            post = Post(id=self.ids.post(network, owner), network=network, kind=kind,
                        author_id=author_id, text=text, created_at=now, updated_at=now,
                        seq=self.ids.order(),
                        media=[self.cdn.asset(m) for m in media],
                        mentions_brand=not brand and self.mentions(network, text),
                        tagged=tagged and not brand,
                        shortcode=self.ids.shortcode() if network == INSTAGRAM else "")
            self.posts[post.id] = post
            self.announce.post(post, "add")
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
            comment = Comment(id=self.ids.comment(post), network=network, post_id=post.id,
                              author_id=author_id, text=text, created_at=self.clock.now(),
                              seq=self.ids.order(), parent_id=parent.id if parent else None,
                              media=[self.cdn.asset(m) for m in media],
                              mentions_brand=not self.is_brand(author_id)
                              and self.mentions(network, text))
            self.comments[comment.id] = comment
            self.announce.comment(comment, "add")
            return comment

    def thread_with(self, network: str, person_id: str) -> Thread:
        with self.lock:
            known = self.thread_of.get((network, person_id))
            if known:
                return self.threads[known]
            seq = self.ids.order()
            thread = Thread(id=self.ids.thread(network, person_id, seq), network=network,
                            person_id=person_id, seq=seq, updated_at=self.clock.now())
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
            seq = self.ids.order()
            mid = self.ids.message(network, seq)
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
            self.announce.message(message)
            return message

    # -- changes (each sends the webhook Meta sends) ---------------------------------------

    def edit(self, obj: Post | Comment | Message, text: str) -> None:
        with self.lock:
            now = self.clock.now()
            obj.text = text
            if isinstance(obj, Post):
                obj.updated_at = now
                self.announce.post(obj, "edited")
            elif isinstance(obj, Comment):
                obj.edited_at = now
                self.announce.comment(obj, "edited")
            else:
                obj.edits += 1
                self.announce.edit(obj)

    def delete(self, obj: Post | Comment) -> None:
        with self.lock:
            if obj.deleted:
                return
            obj.deleted = True
            if isinstance(obj, Post):
                self.announce.post(obj, "remove")
                for comment in self.comments.values():
                    if comment.post_id == obj.id:
                        comment.deleted = True
            else:
                self.announce.comment(obj, "remove")
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
                self.announce.post(obj, verb)
            else:
                self.announce.comment(obj, verb)

    def unsend(self, message: Message) -> None:
        with self.lock:
            if message.unsent:
                return
            message.unsent = True
            self.announce.unsend(message)

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
