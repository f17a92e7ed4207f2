"""Everything the network knows, in memory: ``XState``."""
from __future__ import annotations

import base64
import itertools
import secrets
import threading
from typing import TYPE_CHECKING, Any, Iterable

from sandbox.common import Chaos, Clock, Outage, RateLimits, Snowflake
from sandbox.oauth import ACCESS, REFRESH, AuthServer
from sandbox.x.constants import CODE_SECONDS, RATE_LIMITS, USERNAME_RE
from sandbox.x.daily import TRAILING_EMPTY_PAGE_DEFAULT, DailyCaps, TrailingPages
from sandbox.x.helpers import detect_lang, snowflake_at
from sandbox.x.oauth1 import OAuth1Keys
from sandbox.x.records import DmEvent, mention_spans, Post, User, wrap_urls
from sandbox.x.search import INDEX_LAG_DEFAULT

if TYPE_CHECKING:
    from sandbox.x.records import Fault


class XState:
    """Everything the network knows: accounts, posts, DMs, windows, faults, the call log."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.ids = Snowflake(self.clock)
        self._seq = itertools.count(1)
        self._fault_ids = itertools.count(1)
        self.limits = RateLimits(defaults={**RATE_LIMITS, **{
            k: tuple(v) for k, v in settings.get("rate_limits", {}).items()}})
        self.chaos = Chaos(int(settings.get("seed", 0)))
        self.daily = DailyCaps()
        # X's timelines: posts indexed up to a few seconds late, and last pages that
        # sometimes name an empty next one. A reset comes back to these (settings
        # ``index_lag``, ``trailing_empty_page``; ``socialdesk sandbox --x-index-lag``).
        self.pages = TrailingPages(self.chaos.seed, float(settings.get("trailing_empty_page",
                                                                       TRAILING_EMPTY_PAGE_DEFAULT)))
        self.index_lag_default = float(settings.get("index_lag", INDEX_LAG_DEFAULT))
        if not 0 <= self.index_lag_default <= 3600:
            raise ValueError("index_lag is a number of seconds from 0 to 3600")
        self.index_lag = self.index_lag_default
        self.outage = Outage(self.clock)
        self.tier = "recorded"
        self.brand_handle: str = settings.get("brand_handle", "socialdesk_demo")
        self.token: str = settings.get("token") or secrets.token_urlsafe(64)
        self.app_token: str = (settings.get("app_token")
                               or "AAAAAAAAAAAAAAAAAAAAA" + secrets.token_urlsafe(60))
        self.brand_id: str = str(settings.get("brand_user_id") or self.ids.next())
        # The developer app: a confidential client (Basic auth at the token endpoint) and a
        # public one (client_id in the body, PKCE alone), as X's app types have.
        self.oauth_client_id = _b64(f"{secrets.token_urlsafe(18)}:1:ci")
        self.oauth_public_client_id = _b64(f"{secrets.token_urlsafe(18)}:1:ci")
        self.oauth_client_secret = secrets.token_urlsafe(37)
        self.auth = AuthServer.create(self.clock, self._mint, CODE_SECONDS)
        # OAuth 1.0a: the app's consumer key pair and the brand's access token pair.
        self.oauth1 = OAuth1Keys(secrets.token_urlsafe(18), secrets.token_urlsafe(37),
                                 f"{self.brand_id}-{secrets.token_urlsafe(30)}",
                                 secrets.token_urlsafe(33))
        self.reset()
        self.auth.tokens.add(self.token, ACCESS, self.brand_id, scope="tweet.read tweet.write "
                             "users.read dm.read dm.write")
        self.auth.tokens.add(self.app_token, ACCESS, "app", grant="app_only")
        self.auth.tokens.add(self.oauth1.token, ACCESS, self.brand_id, grant="oauth1")

    def _mint(self, kind: str) -> str:
        """X's token shape: base64url of ``<random>:<issued ms>:1:0:<at|rt|ac>:1``."""
        tag = {ACCESS: "at", REFRESH: "rt"}.get(kind, "ac")
        return _b64(f"{secrets.token_urlsafe(40)}:{int(self.clock.now() * 1000)}:1:0:{tag}:1")

    def reset(self) -> None:
        """Forget everything but the brand account and the credentials: tokens issued
        stay as they are, the fixed ones work again, the next authorization is approved
        (the clock keeps its offset so ids stay time-ordered)."""
        with self.lock:
            self.auth.tokens.restore_fixed()
            self.auth.consent.set(True)
            self.users: dict[str, User] = {}
            self.handles: dict[str, str] = {}
            self.posts: dict[str, Post] = {}
            self.by_author: dict[str, list[Post]] = {}
            self.by_mention: dict[str, list[Post]] = {}
            self.dms: dict[str, DmEvent] = {}
            self.faults: list[Fault] = []
            self.calls: list[dict[str, Any]] = []
            self.limits.reset()
            self.daily.reset()
            self.pages.reset(self.chaos.seed)
            self.tier = "recorded"
            self.chaos.clear()
            self.chaos.reseed(self.chaos.seed)
            self.outage.clear()
            brand = self.add_user(self.brand_handle, user_id=self.brand_id)
            brand.description = "Official support account (sandbox)"
            brand.verified = True

    def new_id(self, at: float | None = None) -> str:
        if at is None:
            return self.ids.next()
        value = snowflake_at(at, next(self._seq))
        while str(value) in self.posts or str(value) in self.dms:
            value += 1
        return str(value)

    def add_user(self, handle: str, user_id: str | None = None) -> User:
        if not USERNAME_RE.match(handle):
            raise ValueError(f"not a valid X handle: {handle!r}")
        with self.lock:
            existing = self.handles.get(handle.lower())
            if existing:
                return self.users[existing]
            name = " ".join(part.capitalize() for part in handle.split("_") if part) or handle
            user = User(id=user_id or self.ids.next(), username=handle, name=name,
                        created_at=self.clock.now())
            self.users[user.id] = user
            self.handles[handle.lower()] = user.id
            return user

    def user_by_handle(self, handle: str) -> User | None:
        uid = self.handles.get(handle.lower())
        return self.users.get(uid) if uid else None

    def live_post(self, post_id: str) -> Post | None:
        post = self.posts.get(post_id)
        return post if post and not post.deleted else None

    def create_post(self, author: User, text: str, *, reply_to: Post | None = None,
                    quote_of: Post | None = None, repost_of: Post | None = None,
                    at: float | None = None, reply_settings: str = "everyone") -> Post:
        with self.lock:
            created = self.clock.now() if at is None else at
            post_id = self.new_id(at)
            if repost_of is not None:
                original = self.users[repost_of.author_id]
                text = f"RT @{original.username}: {repost_of.text}"
            body, urls = wrap_urls(text) if repost_of is None else (text, [])
            post = Post(id=post_id, author_id=author.id, text=body, submitted_text=text,
                        created_at=created, conversation_id=post_id, urls=urls,
                        reply_settings=reply_settings, lang=detect_lang(text),
                        mentions=mention_spans(body, urls))
            if reply_to is not None:
                post.conversation_id = reply_to.conversation_id
                post.in_reply_to_tweet_id = reply_to.id
                post.in_reply_to_user_id = reply_to.author_id
                post.referenced.append(("replied_to", reply_to.id))
                reply_to.metrics["reply_count"] += 1
            if quote_of is not None:
                post.referenced.append(("quoted", quote_of.id))
                quote_of.metrics["quote_count"] += 1
            if repost_of is not None:
                post.referenced.append(("retweeted", repost_of.id))
                repost_of.metrics["retweet_count"] += 1
            self.posts[post.id] = post
            self.by_author.setdefault(author.id, []).append(post)
            for handle in {m[2].lower() for m in post.mentions}:
                self.by_mention.setdefault(handle, []).append(post)
            return post

    def create_dm(self, sender: User, recipient: User, text: str,
                  at: float | None = None) -> DmEvent:
        with self.lock:
            low, high = sorted((sender.id, recipient.id), key=int)
            body, urls = wrap_urls(text)
            event = DmEvent(id=self.new_id(at), conversation_id=f"{low}-{high}",
                            sender_id=sender.id, recipient_id=recipient.id, text=body,
                            created_at=self.clock.now() if at is None else at,
                            submitted_text=text, urls=urls)
            self.dms[event.id] = event
            return event

    def trailing_page(self) -> bool:
        """Whether this read's last page names an empty next page (``/_sandbox/pagination``)."""
        return self.pages.draw()

    def newest_first(self, posts: Iterable[Post]) -> list[Post]:
        return sorted((p for p in posts if not p.deleted), key=lambda p: int(p.id), reverse=True)

    def mentions_of(self, user: User) -> list[Post]:
        return self.newest_first(self.by_mention.get(user.username.lower(), []))

    def posts_by(self, user: User) -> list[Post]:
        return self.newest_first(self.by_author.get(user.id, []))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
