"""The normalized values, the two role protocols and the error taxonomy.

Everything the sync engine knows about a remote system passes through the types in this
module. Adapters translate vendor wire formats and vendor exceptions into these at the
edge; no vendor type (zenpy, simple_salesforce, requests) crosses into ``sync/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import (
    TYPE_CHECKING, Any, Callable, ClassVar, Collection, Literal, Mapping, MutableMapping, Protocol, Sequence,
    runtime_checkable,
)

if TYPE_CHECKING:  # the coverage vocabulary lives with the helpdesk adapters that speak it
    from adapters.helpdesk.coverage import RouteOutcome, SlaCoverage

MentionKind = Literal["mention", "reply", "dm", "comment"]
MediaKind = Literal["image", "video", "audio", "file"]
ChangeKind = Literal["edited", "deleted", "hidden", "unhidden", "unsent"]
TicketStatus = Literal["new", "open", "pending", "hold", "solved", "closed"]


# --------------------------------------------------------------------------- secrets


class Secret:
    """A credential value that never shows itself in a repr, str, log line or error."""

    __slots__ = ("_value", "name")

    def __init__(self, value: str, name: str = "secret") -> None:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name}: a secret must be a non-empty string")
        self._value = value
        self.name = name

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name}=****)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:  # pickling would write the value out in clear
        raise TypeError("secrets are not picklable")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Author:
    """A person (or brand) on a social network."""

    network: str
    id: str
    handle: str
    name: str | None = None
    followers: int | None = None
    verified: bool | None = None
    profile_url: str | None = None


@dataclass(frozen=True)
class Media:
    """A picture, video or file attached to a post. ``ref`` is the network's id for it:
    the CDN link a network serves expires (Meta's within days), so a ticket shows a link
    that reads a fresh one when opened (``ResolvesMedia``); ``url`` is the link as read."""

    kind: MediaKind
    ref: str
    url: str | None = None


@dataclass(frozen=True)
class Mention:
    """One inbound social item: a mention, a reply to the brand, a comment or a DM."""

    network: str
    id: str
    kind: MentionKind
    author: Author
    text: str
    created_at: datetime | None
    url: str | None
    conversation_id: str
    in_reply_to: str | None = None
    is_repost: bool = False
    is_quote: bool = False
    lang: str | None = None
    metrics: Mapping[str, int] = field(default_factory=dict)
    media: tuple[Media, ...] = ()

    @property
    def key(self) -> str:
        """Source key: unique per network, stable across re-reads."""
        return post_key(self.network, self.id, dm=self.kind == "dm")


def post_key(network: str, post_id: str, *, dm: bool = False) -> str:
    """The source key of a network's post or message (``Mention.key``)."""
    return f"{network}:{'dm' if dm else 'post'}:{post_id}"


@dataclass(frozen=True)
class Change:
    """Something done to a post already read: edited, deleted, hidden or unhidden by a
    moderator, or a message unsent. It becomes an internal note on the ticket the post
    went to; ``target`` is that post's source key (``post_key``). ``text`` is an edit's
    new text; ``at`` when it happened (part of the key: a post edited twice is two changes)."""

    network: str
    target: str
    what: ChangeKind
    text: str | None = None
    at: datetime | None = None
    by: str | None = None

    @property
    def key(self) -> str:
        stamp = self.at.isoformat(timespec="seconds") if self.at else ""
        return f"{self.target}:{self.what}:{stamp}"


@dataclass(frozen=True)
class Unparseable:
    """An item a remote sent that could not be read; quarantined, never dropped."""

    network: str
    key: str
    reason: str
    raw: Any = None


@dataclass(frozen=True)
class Cursor:
    """Where a poller resumes. ``value`` is opaque to the engine."""

    value: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of items read from a remote system.

    ``next_page`` continues the same read (older items); ``cursor`` is where the next
    read starts once every page of this read has been recorded. ``gap`` says the network
    could not reach back to the previous cursor (a window was exceeded): backfill.
    """

    items: tuple[Any, ...]
    next_page: str | None
    cursor: Cursor
    gap: bool = False


@dataclass(frozen=True)
class OutboundPost:
    """What the engine asks a network to post."""

    text: str
    in_reply_to: str | None = None
    dm_recipient_id: str | None = None
    # Meta's Private Reply: a message to the author of this comment (one per comment).
    private_reply_to: str | None = None
    # A message tag for a private message outside the network's standard window (Meta:
    # HUMAN_AGENT, a person answering up to 7 days after the customer's last message).
    tag: str | None = None


@dataclass(frozen=True)
class PostedReply:
    """A post the network accepted."""

    network: str
    id: str
    url: str | None
    text: str
    in_reply_to: str | None = None
    dm: bool = False
    conversation_id: str | None = None


@dataclass(frozen=True)
class NewTicket:
    """What the engine asks a helpdesk to open."""

    external_id: str
    subject: str
    body: str
    requester_id: str
    public: bool = True
    tags: tuple[str, ...] = ()
    priority: str | None = None
    group_id: int | str | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    followup_of: str | None = None
    brand_id: int | str | None = None
    ticket_form_id: int | str | None = None
    entitlement_id: str | None = None
    type: str | None = None               # Zendesk: question | incident | problem | task
    origin: str | None = None             # Salesforce: Case.Origin (else the adapter's default)
    record_type_id: str | None = None     # Salesforce: Case.RecordTypeId
    assignment_rule: bool | None = None   # Salesforce: run the active assignment rule (None: unless owned)


@dataclass(frozen=True)
class TicketRef:
    """A ticket (Zendesk) or case (Salesforce) as the engine sees it."""

    helpdesk: str
    id: str
    status: str
    external_id: str | None = None
    url: str | None = None
    requester_id: str | None = None
    tags: tuple[str, ...] = ()
    priority: str | None = None

    @property
    def is_closed(self) -> bool:
        return self.status in ("solved", "closed")


@dataclass(frozen=True)
class AgentReply:
    """A comment written in the helpdesk, candidate for mirroring to the network."""

    helpdesk: str
    ticket_id: str
    comment_id: str
    author_id: str
    body: str
    public: bool
    by_agent: bool
    created_at: datetime | None = None


# --------------------------------------------------------------------------- errors


class SocialdeskError(Exception):
    """Base of every error an adapter raises."""

    # The side of a route whose call raised it: a route marks its helpdesk calls'
    # errors "helpdesk"; unmarked errors are the network's.
    side: str = "network"


class RetriableError(SocialdeskError):
    """A passing fault (5xx, timeout, reset): the same call may succeed later."""


class RateLimited(RetriableError):
    """The remote asked us to slow down; ``retry_after`` is in seconds from now."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(f"{message} (retry after {retry_after:g}s)")
        self.retry_after = float(retry_after)


class JobPending(RetriableError):
    """A background job (a Zendesk bulk job) was accepted but has not finished yet.

    ``job_id`` lets a later attempt ask whether it finished before writing again.
    """

    def __init__(self, message: str, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class AuthFailed(SocialdeskError):
    """Credentials were refused: the route waits and re-checks, and says why; nothing is lost."""


class SkippableError(SocialdeskError):
    """This item alone cannot be processed: quarantine it with the reason."""


class FatalError(SocialdeskError):
    """Configuration or contract problem: stop the route and say why."""


class WindowClosed(SkippableError):
    """The network refused a private message: its messaging window has closed (Meta: 24
    hours after the customer's last message, 7 days for a human agent's answer)."""


class DuplicateContent(SkippableError):
    """The network refused a post because the same text was already posted."""


class NotFound(SkippableError):
    """The object the call named does not exist (any more)."""


# --------------------------------------------------------------------------- protocols
#
# Each adapter class declares what it can do by naming the capability Protocols below as
# its bases (``class XNetwork(SocialNetwork, ReadsDMs, ...)``). The engine asks the type
# (``isinstance(network, ReadsDMs)``), never ``getattr``; ``capabilities(cls)`` lists the
# names an adapter declares, and a test holds them against plugin_manifest.json.

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@runtime_checkable
class SocialNetwork(Protocol):
    """A social network account the brand is monitored on and answers on: it reads
    mentions and replies to the brand, and posts replies in their threads."""

    kind: ClassVar[str]
    max_reply_len: ClassVar[int]
    max_dm_len: ClassVar[int]
    min_poll_interval: ClassVar[float]
    # How many recent mentions the network lets a reader reach back (0: unbounded).
    mention_window: ClassVar[int] = 0
    # How long after a customer's message the brand may answer privately (None: no limit).
    private_reply_window: ClassVar[float | None] = None
    # How long a person (not a bot) may still answer privately with the network's
    # human-agent tag (Meta: 7 days; None: no such tag).
    human_agent_window: ClassVar[float | None] = None
    # Whether a commenter is reached privately by a Private Reply to their comment (Meta)
    # rather than a direct message to their account (X).
    private_replies: ClassVar[bool] = False
    # Whether a public reply opens with the author's @handle (X, Instagram); a Facebook
    # reply sits under the comment it answers, and a name is not a handle there.
    addresses_author: ClassVar[bool] = True

    def whoami(self) -> Author:
        """The brand's own account."""
        raise NotImplementedError

    def probe(self) -> None:
        """One cheap authenticated call, never answered from a cache: AuthFailed when the
        credentials are refused, RetriableError when the network cannot be reached."""
        raise NotImplementedError

    def account_key(self) -> str:
        """What names the brand account for good (its id), so a state is never used with another."""
        raise NotImplementedError

    def fetch_mentions(self, cursor: Cursor, page: str | None = None) -> Page:
        """Mentions and replies newer than ``cursor``, newest first; Page of Mention."""
        raise NotImplementedError

    def post(self, post: OutboundPost) -> PostedReply:
        """Publish a reply in a thread, or a DM when ``dm_recipient_id`` is set."""
        raise NotImplementedError

    def find_own_post(self, post: OutboundPost, since_id: str | None = None) -> PostedReply | None:
        """Look for an earlier identical post by the brand (crash recovery)."""
        raise NotImplementedError

    def weighted_length(self, text: str) -> int:
        """Length of ``text`` as the network counts it against ``max_reply_len``."""
        raise NotImplementedError


@runtime_checkable
class ReadsDMs(Protocol):
    """Reads the direct messages the brand receives (and answers them by DM)."""

    def fetch_dms(self, cursor: Cursor, page: str | None = None) -> Page:
        """Direct messages received newer than ``cursor``; Page of Mention (kind 'dm')."""
        raise NotImplementedError


@runtime_checkable
class SearchesRecent(Protocol):
    """Searches recent public posts: the backfill when the mentions window was exceeded."""

    def search_recent(self, query: str, cursor: Cursor, page: str | None = None) -> Page:
        """Recent public posts matching ``query``; Page of Mention."""
        raise NotImplementedError


@runtime_checkable
class StartsAtTime(Protocol):
    """Can read a stream from a moment rather than from a post (X: ``start_time``): a
    route's first cursor, so a post indexed late is still reached by the next read."""

    def cursor_at(self, moment: float) -> Cursor:
        """A cursor whose next read returns what was posted from ``moment`` (epoch seconds) on."""
        raise NotImplementedError


@runtime_checkable
class ReceivesPushes(Protocol):
    """The network calls socialdesk when something happens (Meta's webhooks). Pushes can
    be lost (Meta gives up after 36 hours), so the route's reads still run as a
    reconciliation; the store's dedupe makes the two meet exactly once."""

    def answer_subscription(self, params: Mapping[str, str], verify_token: str) -> str | None:
        """The body that confirms a subscription check (Meta: ``hub.challenge`` when
        ``hub.verify_token`` matches), None when the check is refused."""
        raise NotImplementedError

    def verify_push(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """None when a delivery is signed by the network (Meta: ``X-Hub-Signature-256``,
        HMAC-SHA256 of the raw body with the app secret), else why it is refused."""
        raise NotImplementedError

    def read_push(self, body: bytes) -> list[Mention | Change | Unparseable]:
        """What a verified delivery carries for this account: mentions, comments, DMs and
        changes to them; the brand's own posts (echoes) left out. May read the network
        (an author's name). ValueError saying what a delivery must be when it is not one."""
        raise NotImplementedError


@runtime_checkable
class ResolvesMedia(Protocol):
    """Reads a fresh link for an attachment whose links expire."""

    def media_link(self, ref: str) -> str:
        """A link to the attachment ``Media.ref`` names, valid now; NotFound when it is gone."""
        raise NotImplementedError


@runtime_checkable
class ReadsMetrics(Protocol):
    """Reads posts' public metrics (likes, reposts...): the viral watch."""

    def fetch_metrics(self, post_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Current public metrics by post id; posts gone are left out."""
        raise NotImplementedError


@runtime_checkable
class RemembersAccount(Protocol):
    """Takes the brand account as an earlier run read it, to use while ``whoami`` cannot
    be read (rate limited, failing), so its own calls need no account read either."""

    def remember_account(self, me: Author) -> None:
        raise NotImplementedError


@runtime_checkable
class KeepsRateBudget(Protocol):
    """Paces its own calls from the rate-limit headers it is sent; the budget's windows
    pass on the clock it is given (the daemon's, which a simulation may compress)."""

    def use_clock(self, clock: Clock, sleep: Sleep | None = None) -> None:
        """Pass the budget's windows on ``clock``; an adapter that has to wait (Zendesk's
        job polling) waits through ``sleep`` (None: keep the one it has)."""
        raise NotImplementedError


@runtime_checkable
class SharedRateBuckets(Protocol):
    """Token buckets every replica of the daemon takes its vendor calls from, one per vendor
    account (``zendesk:acme.zendesk.com``, ``x:<user id> GET /2/...``): the state store
    keeps them, so replicas together keep within one share of each account's rate limit.

    A bucket holds up to ``capacity`` calls and refills at ``rate`` calls a second; both
    come with every call (the vendor may change its limit), as does ``now``, so the bucket
    passes on the caller's clock."""

    def take_tokens(self, account: str, count: int, capacity: float, rate: float,
                    now: float) -> tuple[float, float]:
        """Take ``count`` calls from ``account``'s bucket (made full if new), in one round
        trip: what it holds after, and the bucket's time of the take (``now``, or later if
        another replica took at a later time). Below zero the calls taken are owed: they
        come due as the bucket refills (the last of them ``-level / rate`` seconds after)."""
        raise NotImplementedError

    def lower_tokens(self, account: str, tokens: float, capacity: float, rate: float, now: float) -> None:
        """The vendor says less is left than the bucket holds: it holds at most ``tokens``."""
        raise NotImplementedError


@runtime_checkable
class Helpdesk(Protocol):
    """A helpdesk instance (Zendesk account, Salesforce org) tickets are written to."""

    kind: ClassVar[str]
    # Ticket and rule settings this helpdesk has beyond the common ones (group, priority,
    # tags, custom_fields); a mapping that sets another helpdesk's is refused.
    ticket_keys: ClassVar[frozenset[str]] = frozenset()
    # The least time between two reads of the agent-reply export (its own rate limit).
    export_min_interval: ClassVar[float] = 0.0

    def whoami(self) -> str:
        """The id of the integration's own helpdesk user."""
        raise NotImplementedError

    def probe(self) -> None:
        """One cheap authenticated call, never answered from a cache: AuthFailed when the
        credentials are refused, RetriableError when the helpdesk cannot be reached."""
        raise NotImplementedError

    def account_key(self) -> str:
        """What names the helpdesk account for good (its address or org id), so a state is
        never used with another."""
        raise NotImplementedError

    def upsert_requester(self, author: Author) -> str:
        """The helpdesk user id for ``author``: found by identity, else created once."""
        raise NotImplementedError

    def find_tickets(self, external_id: str) -> list[TicketRef]:
        """Tickets carrying ``external_id`` (not unique in every helpdesk), oldest first."""
        raise NotImplementedError

    def create_ticket(self, ticket: NewTicket, idempotency_key: str) -> TicketRef:
        """Open a ticket; retrying with the same key never opens a second one."""
        raise NotImplementedError

    def get_ticket(self, ticket_id: str) -> TicketRef:
        """The ticket as it is now."""
        raise NotImplementedError

    def update_ticket(self, ticket_id: str, *, priority: str | None = None, add_tags: tuple[str, ...] = (),
                      custom_fields: Mapping[str, Any] | None = None) -> None:
        """Raise the priority, add tags, set fields; what is not named stays as it is."""
        raise NotImplementedError

    def add_comment(self, ticket_id: str, body: str, *, public: bool,
                    author_id: str | None = None) -> None:
        """Append a comment (``public``) or an internal note to a ticket."""
        raise NotImplementedError

    def list_comments(self, ticket_id: str) -> list[AgentReply]:
        """Every comment on a ticket, oldest first."""
        raise NotImplementedError

    def fetch_agent_replies(self, cursor: Cursor, page: str | None = None, *,
                            linked: Linked | None = None) -> Page:
        """Comments written since ``cursor`` on any ticket; Page of AgentReply. With
        ``linked`` (which of these ticket ids the caller has linked), only comments on those
        tickets: the others cost no further reads (an account's email tickets, another
        route's tickets)."""
        raise NotImplementedError

    def lookup(self, kind: str, name: str | int) -> str:
        """Id of a named group / field / brand / form; FatalError naming what exists."""
        raise NotImplementedError


OnSubmitted = Callable[[str, int, int], None]
Linked = Callable[[Collection[str]], Collection[str]]


@runtime_checkable
class BatchesWrites(Protocol):
    """Writes many items in one call; the engine uses it for backlogs.

    Each method returns one result per input, in order: the value, or the error for that
    item alone. A whole-batch failure raises. ``on_submitted(job_id, start, end)`` hears of
    each background job (Zendesk) as soon as it is queued, with the slice of items it
    holds, so a later attempt can wait for it before writing again; a synchronous helpdesk
    (Salesforce collections) never calls it. ``batch_max`` items go in one job or call;
    a call may take ``batch_jobs`` times that, as that many jobs at once.
    """

    batch_max: ClassVar[int]
    batch_jobs: int

    def upsert_requesters(self, authors: Sequence[Author],
                          on_submitted: OnSubmitted | None = None) -> list[str | SocialdeskError]:
        """Helpdesk user ids for ``authors``, each found by identity or created once."""
        raise NotImplementedError

    def create_tickets(self, tickets: Sequence[NewTicket],
                       on_submitted: OnSubmitted | None = None) -> list[TicketRef | SocialdeskError]:
        """Open tickets keyed by their external ids."""
        raise NotImplementedError

    def add_comments(self, comments: Sequence[tuple[str, str, bool, str | None]],
                     on_submitted: OnSubmitted | None = None) -> list[None | SocialdeskError]:
        """(ticket id, body, public, author id) on distinct tickets."""
        raise NotImplementedError

    def get_tickets(self, ticket_ids: Sequence[str]) -> dict[str, TicketRef]:
        """The tickets that still exist, by id."""
        raise NotImplementedError

    def job_settled(self, job_id: str) -> bool:
        """True once a background job named by ``on_submitted`` can no longer change anything."""
        raise NotImplementedError


@runtime_checkable
class WritesSideBySide(Protocol):
    """Runs background jobs side by side: comments and new tickets in one round of jobs."""

    def write_tickets(self, comments: Sequence[tuple[str, str, bool, str | None]], tickets: Sequence[NewTicket],
                      on_submitted: OnSubmitted | None = None
                      ) -> tuple[list[None | SocialdeskError], list[TicketRef | SocialdeskError]]:
        """Both writes' jobs in flight together; slices numbered over the comments, then the tickets."""
        raise NotImplementedError


@runtime_checkable
class LinksIncidents(Protocol):
    """Has problem tickets that incidents link to: a mention spike gets one."""

    def link_incidents(self, problem_id: str, ticket_ids: Sequence[str]) -> None:
        raise NotImplementedError


@runtime_checkable
class MetersApiBudget(Protocol):
    """Counts a daily API allocation (Salesforce): the engine slows down as it tightens."""

    def budget_pressure(self) -> float:
        """Share of socialdesk's part of the allocation used, 0..1 and over."""
        raise NotImplementedError

    def budget(self) -> dict[str, Any]:
        """The budget as ``socialdesk status`` shows it."""
        raise NotImplementedError

    def restore_budget(self, report: Mapping[str, Any]) -> int:
        """Count the calls an earlier run made in the window; returns how many."""
        raise NotImplementedError


@runtime_checkable
class ReceivesWebhooks(Protocol):
    """Calls socialdesk when a ticket changes; socialdesk sets the webhook up itself and
    checks each delivery the way this helpdesk signs it."""

    def setup_push(self, name: str, endpoint: str, tag: str,
                   secret: Secret | None = None) -> tuple[str, Secret, list[str]]:
        """Create (or find) the webhook and trigger; (webhook id, signing secret, what was
        created). With ``secret`` (the mapping's), the webhook signs with it or setup fails."""
        raise NotImplementedError

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str, now: float,
                       first_time: Callable[[str], bool]) -> str | None:
        """None when a delivery is genuine, fresh and new (``first_time(key)`` says whether
        a delivery was seen before, and remembers it), else why it is refused
        (``REPLAYED`` for one seen before)."""
        raise NotImplementedError

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """The ticket a verified delivery asks to mirror, None when there is nothing to
        mirror; ValueError saying what a delivery must be when it is not one."""
        raise NotImplementedError


REPLAYED = "replayed delivery"
"""Why ``verify_webhook`` refuses a delivery it has seen before."""


@runtime_checkable
class ReceivesOutboundMessages(Protocol):
    """Sends outbound messages (Salesforce workflow) when a case changes."""

    org_id: str | None

    def read_outbound(self, body: bytes, org_id: str) -> list[str]:
        """The record ids an outbound message names; ValueError when the body is not an
        outbound message, AuthFailed when it comes from an org other than ``org_id``."""
        raise NotImplementedError

    def acknowledge_outbound(self) -> tuple[str, str]:
        """(body, content type) of the answer that stops the helpdesk sending it again."""
        raise NotImplementedError


@runtime_checkable
class ReportsSlaCoverage(Protocol):
    """Says which of its own service levels (SLA policies, triggers, entitlements) apply
    to the tickets a route can open, before any is written."""

    def sla_coverage(self, outcomes: Sequence[RouteOutcome], resolve: Callable[[str, Any], Any],
                     reads: MutableMapping[Any, Any]) -> SlaCoverage:
        """The coverage of a route's ticket outcomes (label, mention kinds, settings by
        name); ``resolve(kind, name)`` gives ids; ``reads`` is kept by the caller for one
        report, so routes sharing this helpdesk read its setup once."""
        raise NotImplementedError


@runtime_checkable
class ChecksSetup(Protocol):
    """Can say what an admin still has to set up in the helpdesk (fields, permissions)."""

    def verify_setup(self) -> list[str]:
        raise NotImplementedError


# Old names, kept for the adapters' contract tests.
BatchHelpdesk = BatchesWrites

@runtime_checkable
class SignsInWithOAuth(Protocol):
    """Can sign in with an OAuth grant kept in the state (``socialdesk connect`` asks the
    consent once); ``oauth`` is the grant's ``adapters.oauth.TokenSource``, None when this
    entry signs in another way (a legacy token, keys)."""

    oauth: Any

    def use_vault(self, vault: Any) -> None:
        """Keep the grant in ``vault`` (``adapters.credentials.TokenVault``)."""
        raise NotImplementedError


CAPABILITIES: Mapping[str, type] = {
    "reads_mentions": SocialNetwork, "reads_dms": ReadsDMs, "searches_recent": SearchesRecent,
    "reads_metrics": ReadsMetrics, "remembers_account": RemembersAccount,
    "starts_at_time": StartsAtTime, "receives_pushes": ReceivesPushes, "resolves_media": ResolvesMedia,
    "keeps_rate_budget": KeepsRateBudget,
    "writes_tickets": Helpdesk, "batches_writes": BatchesWrites, "writes_side_by_side": WritesSideBySide,
    "links_incidents": LinksIncidents, "meters_api_budget": MetersApiBudget,
    "receives_webhooks": ReceivesWebhooks, "receives_outbound_messages": ReceivesOutboundMessages,
    "checks_setup": ChecksSetup, "reports_sla_coverage": ReportsSlaCoverage,
    "signs_in_with_oauth": SignsInWithOAuth,
}
"""Capability name (as plugin_manifest.json lists it) -> the Protocol an adapter declares."""


def capabilities(cls: type) -> tuple[str, ...]:
    """The capabilities an adapter class declares, by name, in the table's order."""
    return tuple(name for name, proto in CAPABILITIES.items() if proto in cls.__mro__)


Role = Literal["social", "helpdesk"]
