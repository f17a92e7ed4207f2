"""A scripted day on the sandbox, and an audit of what the daemon made of it.

The people are played through the sandbox: customers post through X's control API,
agents answer through the real Zendesk REST API with the sandbox's agent token (with
``ui=True`` marked as the agent workspace, which the chaos faults and the plan limits
leave alone). The audit reads the far side only (posts on X, tickets and their comments
from the helpdesk's control dump) and counts what was lost, duplicated or leaked,
independently of the daemon's own bookkeeping.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import requests

from sandbox.common import UI_CHANNEL

BRAND_TAG = "socialdesk"
# (ticket, its comments oldest first), the shape the audit reads from either helpdesk.
Conversation = tuple[dict[str, Any], list[dict[str, Any]]]


class People:
    """Customers on X and agents in Zendesk, acting on a running sandbox."""

    def __init__(self, info: dict[str, Any], *, ui: bool = False) -> None:
        self.info = info
        self.ui = ui
        self.x = info["services"]["x"]
        self.zd = info["services"]["zendesk"]
        self.http = requests.Session()
        self.http.verify = info["ca_bundle"]
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.agent = self._session()
        # Agents work in Zendesk's own UI: an OAuth session of theirs, not an API token
        # (Zendesk deactivates those on 30 April 2027, and the sandbox does too).
        self.agent.headers["Authorization"] = f"Bearer {self.zd['agent_oauth_token']}"
        self.brand = self.x["brand_handle"]

    def _session(self) -> requests.Session:
        """An agent's session: with ``ui`` its calls are the agent workspace's, not an API client's."""
        session = requests.Session()
        session.verify = self.info["ca_bundle"]
        session.trust_env = False
        if self.ui:
            session.headers[UI_CHANNEL[0]] = UI_CHANNEL[1]
        return session

    # customers -------------------------------------------------------------------

    def post(self, author: str, text: str, in_reply_to: str | None = None, dm: bool = False,
             **extra: Any) -> str:
        body = {"author": author, "text": text, "in_reply_to": in_reply_to, "dm": dm, **extra}
        response = self.http.post(f"{self.x['url']}/_sandbox/posts", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    def advance(self, service: str, seconds: float) -> None:
        """Move a service's clock forward (rate windows, ids and export lags follow it)."""
        url = self.info["services"][service]["url"]
        self.http.post(f"{url}/_sandbox/clock", json={"advance": seconds}).raise_for_status()

    def posts_by(self, handle: str) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.x['url']}/_sandbox/posts", params={"author": handle})
        response.raise_for_status()
        return response.json()["posts"]

    def all_posts(self) -> list[dict[str, Any]]:
        """Everything on the network (posts and DMs, everyone's), newest first, in one call."""
        response = self.http.get(f"{self.x['url']}/_sandbox/posts")
        response.raise_for_status()
        return response.json()["posts"]

    def ticket_index(self) -> list[dict[str, Any]]:
        """Every socialdesk ticket (id, external id, status) without comments: cheap to poll."""
        response = self.http.get(f"{self.zd['url']}/_sandbox/tickets", params={"comments": "false"})
        response.raise_for_status()
        return [{"id": t["id"], "external_id": t.get("external_id"), "status": t.get("status")}
                for t in response.json()["tickets"]
                if not t.get("deleted") and BRAND_TAG in (t.get("tags") or [])]

    def conversations(self) -> list[Conversation]:
        """Every socialdesk ticket with its comments, from the control dump (one call, no
        rate window, no fault)."""
        response = self.http.get(f"{self.zd['url']}/_sandbox/tickets")
        response.raise_for_status()
        return [(t, t["comments"]) for t in response.json()["tickets"]
                if not t.get("deleted") and BRAND_TAG in (t.get("tags") or [])]

    # agents ----------------------------------------------------------------------

    def _zd(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.agent.request(method, f"{self.zd['url']}/api/v2/{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def tickets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = f"{self.zd['url']}/api/v2/tickets.json?page[size]=100"
        while url:
            response = self.agent.get(url)
            response.raise_for_status()
            body = response.json()
            out.extend(body["tickets"])
            url = body["links"].get("next") if body.get("meta", {}).get("has_more") else None
        return [t for t in out if BRAND_TAG in (t.get("tags") or [])]

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        return self._zd("GET", f"tickets/{ticket_id}/comments.json")["comments"]

    def answer(self, ticket_id: int, body: str, *, public: bool = True, status: str | None = None,
               tags: list[str] | None = None) -> None:
        ticket: dict[str, Any] = {"comment": {"body": body, "public": public}}
        if status:
            ticket["status"] = status
        if tags is not None:
            ticket["tags"] = tags
        self._zd("PUT", f"tickets/{ticket_id}.json", json={"ticket": ticket})

    def ticket_for(self, post_id: str) -> dict[str, Any] | None:
        for ticket in self.tickets():
            if str(ticket.get("external_id", "")).endswith(f":{post_id}"):
                return ticket
        return None

    def tag(self, ticket_id: Any, tag: str) -> None:
        """A lead adds a tag to a ticket (and only that)."""
        self._zd("PUT", f"tickets/{ticket_id}.json", json={"ticket": {"additional_tags": [tag]}})

    def customer(self, handle: str, **profile: Any) -> None:
        """Create or update an X account: followers_count, verified, name..."""
        if "followers" in profile:
            profile["followers_count"] = profile.pop("followers")
        response = self.http.post(f"{self.x['url']}/_sandbox/users", json={"handle": handle, **profile})
        response.raise_for_status()

    def set_metrics(self, post_id: str, **metrics: int) -> None:
        """A post's public metrics move (likes, reposts...), as when it takes off."""
        response = self.http.post(f"{self.x['url']}/_sandbox/posts/{post_id}/metrics", json=metrics)
        response.raise_for_status()


@dataclass
class Audit:
    """What the far side shows. ``duplicates`` sums the three duplicate kinds."""

    mentions: int = 0
    tickets: int = 0
    comments: int = 0
    agent_answers: int = 0
    replies_posted: int = 0
    duplicates: int = 0
    duplicate_tickets: int = 0
    duplicate_mentions: int = 0
    duplicate_replies: int = 0
    leaked_internal_notes: int = 0
    lost: int = 0
    unanswered: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    def flag(self, what: str, count: int, problem: str) -> None:
        """Add ``count`` to the counter ``what`` (and to ``duplicates`` for a duplicate kind)."""
        setattr(self, what, getattr(self, what) + count)
        if what.startswith("duplicate_"):
            self.duplicates += count
        self.problems.append(problem)


def audit(people: People, customers: Iterable[str], *, expected_filtered: Iterable[str] = frozenset(),
          answers: Iterable[str] = (), notes: Iterable[str] = ()) -> Audit:
    """Hold the far side against the invariants: every customer post is in exactly one
    ticket, every public agent answer is on X exactly once, no internal note is there.

    ``answers`` and ``notes`` are markers the agents wrote in their public answers and in
    their internal notes: with ``answers`` an answer counts as posted when its marker is on
    X (in whatever thread), otherwise when socialdesk's result note names its comment.
    """
    result = Audit()
    conversations = people.conversations()
    result.tickets = len(conversations)
    posts = people.all_posts()
    brand_posts = [p for p in posts if p["author"].lower() == people.brand.lower()]
    _count_tickets(result, conversations)
    _count_mentions(result, conversations, posts, {c.lower() for c in customers}, set(expected_filtered))
    _count_replies(result, conversations, brand_posts, list(answers))
    _count_leaks(result, brand_posts, list(notes))
    return result


def _count_tickets(result: Audit, conversations: list[Conversation]) -> None:
    for ext, count in Counter(t.get("external_id") for t, _ in conversations).items():
        if count > 1:
            result.flag("duplicate_tickets", count - 1, f"{count} tickets with external id {ext}")


def _count_mentions(result: Audit, conversations: list[Conversation], posts: list[dict[str, Any]],
                    customers: set[str], filtered: set[str]) -> None:
    """Each customer post is the first words of exactly one public comment (found by the
    link or DM reference socialdesk writes under it)."""
    seen: Counter[str] = Counter()
    for _, comments in conversations:
        for comment in comments:
            if comment["public"]:
                seen.update(_post_refs(comment["body"]))
    for post in posts:
        if post["author"].lower() not in customers or post["id"] in filtered:
            continue
        result.mentions += 1
        found = seen[post["id"]]
        if not found:
            result.flag("lost", 1, f"post {post['id']} by @{post['author']} is in no ticket")
        elif found > 1:
            result.flag("duplicate_mentions", found - 1,
                        f"post {post['id']} by @{post['author']} is in {found} comments")


_POST_REF = re.compile(r"/status/(\d+)|\bmessage (\d+)")


def _post_refs(body: str) -> set[str]:
    """The post ids a ticket comment references (its status link or DM reference)."""
    return {a or b for a, b in _POST_REF.findall(body)}


def _count_replies(result: Audit, conversations: list[Conversation], brand_posts: list[dict[str, Any]],
                   answers: list[str]) -> None:
    posted = Counter((p.get("in_reply_to"), p["text"]) for p in brand_posts)
    for (_, text), count in posted.items():
        if count > 1:
            result.flag("duplicate_replies", count - 1, f"reply posted {count} times: {text[:40]!r}")
    result.replies_posted = sum(1 for p in brand_posts if p.get("in_reply_to") or p.get("dm"))
    for marker in answers:
        on_x = [p for p in brand_posts if marker in p["text"]]
        if not on_x:
            result.flag("unanswered", 1, f"agent answer {marker} is not on X")
        elif len({(p.get("in_reply_to"), p["text"]) for p in on_x}) > 1:
            result.flag("duplicate_replies", len(on_x) - 1,
                        f"agent answer {marker} is on X {len(on_x)} times")
    for ticket, comments in conversations:
        result.comments += len(comments)
        notes = " ".join(c["body"] for c in comments
                         if not c["public"] and "socialdesk posted this reply" in c["body"])
        for comment in comments[1:]:
            if comment["public"] and comment["author_id"] != ticket["requester_id"]:
                result.agent_answers += 1
                if not answers and f"[comment {comment['id']}]" not in notes:
                    result.flag("unanswered", 1,
                                f"agent comment {comment['id']} on ticket {ticket['id']} not posted")


def _count_leaks(result: Audit, brand_posts: list[dict[str, Any]], notes: list[str]) -> None:
    for marker in notes:
        leaked = [p for p in brand_posts if marker in p["text"]]
        if leaked:
            result.flag("leaked_internal_notes", 1, f"internal note {marker} went out as {leaked[0]['id']}")


class MetaPeople:
    """Customers on the sandbox's Facebook Page and Instagram account, and what the brand's
    accounts wrote there (the Meta service's control API)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.meta = info["services"]["meta"]
        self.http = requests.Session()
        self.http.verify = info["ca_bundle"]
        self.http.trust_env = False   # REQUESTS_CA_BUNDLE would override verify

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.http.request(method, f"{self.meta['url']}/_sandbox/{path}", json=body, params=params)
        response.raise_for_status()
        return response.json() if response.content else None

    def say(self, network: str, author: str, text: str, **extra: Any) -> str:
        """A customer comments (``on``: a post or comment; default the brand's latest), or
        writes a DM (``dm=True``); returns the new object's id."""
        return str(self.control("POST", "posts", {"network": network, "author": author, "text": text,
                                                  **extra})["id"])

    def posts_by(self, author: str) -> list[dict[str, Any]]:
        return self.control("GET", "posts", author=author)["posts"]

    def brand_posts(self) -> list[dict[str, Any]]:
        """What the Page and the Instagram account wrote: comments, replies, messages."""
        return self.posts_by(self.meta["page_id"]) + self.posts_by(self.meta["ig_user_id"])

    def edit(self, post_id: str, text: str) -> None:
        self.control("POST", f"posts/{post_id}/edit", {"text": text})

    def delivered(self, wait: float = 10) -> bool:
        """Wait until the sandbox has made every webhook delivery that is due."""
        return bool(self.control("GET", "webhooks", wait=wait)["idle"])


def wait_until(condition: Callable[[], bool], step: Callable[[], None], timeout: float = 30.0) -> bool:
    """Run ``step`` until ``condition`` holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step()
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class SalesforcePeople(People):
    """The same customers on X; the agents work Cases in the sandbox's Salesforce org.

    Cases and CaseComments are shown in the ticket shape the audit reads: the Case's
    Description is its first comment, and comments the integration user wrote on behalf
    of the customer count as the customer's.
    """

    def __init__(self, info: dict[str, Any], *, ui: bool = False) -> None:
        super().__init__(info, ui=ui)
        self.sf = info["services"]["salesforce"]
        self.sf_http = self._session()
        self.sf_http.headers["Authorization"] = f"Bearer {self.sf['token']}"
        self.api_user = self.sf["api_user_id"]
        self.base = f"{self.sf['instance_url']}/services/data/v{self.sf.get('api_version', '59.0')}"

    def _soql(self, soql: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        response = self.sf_http.get(f"{self.base}/query", params={"q": soql})
        while True:
            response.raise_for_status()
            body = response.json()
            records.extend(body["records"])
            if body.get("done", True):
                return records
            response = self.sf_http.get(f"{self.sf['instance_url']}{body['nextRecordsUrl']}")

    def tickets(self) -> list[dict[str, Any]]:
        cases = self._soql("SELECT Id, Social_Post_Id__c, ContactId, Status, IsClosed FROM Case "
                           "WHERE Social_Post_Id__c != null ORDER BY CreatedDate")
        return [{"id": c["Id"], "external_id": c["Social_Post_Id__c"], "requester_id": c["ContactId"],
                 "status": c["Status"], "tags": [BRAND_TAG]} for c in cases]

    def _records(self, kind: str) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.sf['url']}/_sandbox/records", params={"type": kind})
        response.raise_for_status()
        return response.json()["records"]

    def ticket_index(self) -> list[dict[str, Any]]:
        return [{"id": c["Id"], "external_id": c["Social_Post_Id__c"], "status": c.get("Status")}
                for c in self._records("Case") if c.get("Social_Post_Id__c")]

    def conversations(self) -> list[Conversation]:
        """Every case socialdesk opened, in the ticket shape, with its comments, from the
        control dump (two calls, no allocation used, no fault)."""
        cases = sorted((c for c in self._records("Case") if c.get("Social_Post_Id__c")),
                       key=lambda c: (c.get("CreatedDate") or "", c["Id"]))
        by_case: dict[str, list[dict[str, Any]]] = {}
        for row in sorted(self._records("CaseComment"), key=lambda r: (r.get("CreatedDate") or "", r["Id"])):
            by_case.setdefault(row["ParentId"], []).append(row)
        out: list[Conversation] = []
        for case in cases:
            ticket = {"id": case["Id"], "external_id": case["Social_Post_Id__c"], "requester_id": case["ContactId"],
                      "status": case["Status"], "tags": [BRAND_TAG]}
            out.append((ticket, self._case_comments(case, by_case.get(case["Id"], []))))
        return out

    def _case_comments(self, case: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The Description as the first comment; the integration user's published comments
        stand for the customer's own follow-ups."""
        first = {"id": f"{case['Id']}:description", "body": case.get("Description") or "", "public": True,
                 "author_id": case["ContactId"]}
        return [first, *({"id": r["Id"], "body": r["CommentBody"] or "", "public": r["IsPublished"],
                          "author_id": case["ContactId"] if r["CreatedById"] == self.api_user and r["IsPublished"]
                          else r["CreatedById"]} for r in rows)]

    def comments(self, ticket_id: Any) -> list[dict[str, Any]]:
        case = self._soql(f"SELECT Id, Description, ContactId FROM Case WHERE Id = '{ticket_id}'")[0]
        rows = self._soql("SELECT Id, CommentBody, IsPublished, CreatedById FROM CaseComment "
                          f"WHERE ParentId = '{ticket_id}' ORDER BY CreatedDate, Id")
        first = {"id": f"{ticket_id}:description", "body": case["Description"] or "", "public": True,
                 "author_id": case["ContactId"]}
        return [first, *({"id": r["Id"], "body": r["CommentBody"] or "", "public": r["IsPublished"],
                          "author_id": case["ContactId"] if r["CreatedById"] == self.api_user and r["IsPublished"]
                          else r["CreatedById"]} for r in rows)]

    def tag(self, ticket_id: Any, tag: str) -> None:
        """A lead adds a tag to the case's Social Tags field."""
        case = self._soql(f"SELECT Social_Tags__c FROM Case WHERE Id = '{ticket_id}'")[0]
        tags = (case.get("Social_Tags__c") or "").split()
        self.sf_http.patch(f"{self.base}/sobjects/Case/{ticket_id}",
                           json={"Social_Tags__c": " ".join([*tags, tag])}).raise_for_status()

    def answer(self, ticket_id: Any, body: str, *, public: bool = True, status: str | None = None,
               tags: list[str] | None = None) -> None:
        self.sf_http.post(f"{self.base}/sobjects/CaseComment",
                          json={"ParentId": ticket_id, "CommentBody": body, "IsPublished": public}).raise_for_status()
        if status:
            self.sf_http.patch(f"{self.base}/sobjects/Case/{ticket_id}",
                               json={"Status": "Closed" if status in ("solved", "closed") else status}
                               ).raise_for_status()
