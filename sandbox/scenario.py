"""A scripted day on the sandbox, and an audit of what the daemon made of it.

The people are played through the sandbox: customers post through X's control API,
agents answer through the real Zendesk REST API with the sandbox's agent token. The
audit reads the far side only (posts on X, tickets in Zendesk) and counts what was
lost or duplicated, independently of the daemon's own bookkeeping.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

BRAND_TAG = "socialdesk"


class People:
    """Customers on X and agents in Zendesk, acting on a running sandbox."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.x = info["services"]["x"]
        self.zd = info["services"]["zendesk"]
        self.http = requests.Session()
        self.http.verify = info["ca_bundle"]
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.agent = requests.Session()
        self.agent.verify = info["ca_bundle"]
        self.agent.trust_env = False
        self.agent.auth = (f"{self.zd['agent_email']}/token", self.zd["agent_token"])
        self.brand = self.x["brand_handle"]

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


@dataclass
class Audit:
    mentions: int = 0
    tickets: int = 0
    comments: int = 0
    agent_answers: int = 0
    replies_posted: int = 0
    duplicates: int = 0
    lost: int = 0
    unanswered: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def audit(people: People, customers: list[str], *, expected_filtered: set[str] = frozenset()) -> Audit:
    """Hold the far side against the invariants: every customer post is in exactly one
    ticket, every public agent answer is on X exactly once, nothing else is."""
    result = Audit()
    tickets = people.tickets()
    result.tickets = len(tickets)
    all_comments = {t["id"]: people.comments(t["id"]) for t in tickets}
    ext_ids = Counter(t.get("external_id") for t in tickets)
    for ext, count in ext_ids.items():
        if count > 1:
            result.duplicates += count - 1
            result.problems.append(f"{count} tickets with external id {ext}")
    bodies = [c["body"] for comments in all_comments.values() for c in comments if c["public"]]
    for handle in customers:
        for post in people.posts_by(handle):
            if post["id"] in expected_filtered:
                continue
            result.mentions += 1
            marker = f"/status/{post['id']}" if not post.get("dm") else f"message {post['id']}"
            first_comments = [b for b in bodies if marker in b]
            if not first_comments:
                result.lost += 1
                result.problems.append(f"post {post['id']} by @{handle} is in no ticket")
            elif len(first_comments) > 1:
                result.duplicates += len(first_comments) - 1
                result.problems.append(f"post {post['id']} by @{handle} is in {len(first_comments)} comments")
    brand_posts = people.posts_by(people.brand)
    posted = Counter((p.get("in_reply_to"), p["text"]) for p in brand_posts)
    for (target, text), count in posted.items():
        if count > 1:
            result.duplicates += count - 1
            result.problems.append(f"reply posted {count} times: {text[:40]!r}")
    result.replies_posted = sum(1 for p in brand_posts if p.get("in_reply_to") or p.get("dm"))
    for ticket in tickets:
        comments = all_comments[ticket["id"]]
        result.comments += len(comments)
        notes = " ".join(c["body"] for c in comments
                         if not c["public"] and "socialdesk posted this reply" in c["body"])
        for comment in comments[1:]:
            if comment["public"] and comment["author_id"] != ticket["requester_id"]:
                result.agent_answers += 1
                if f"[comment {comment['id']}]" not in notes:
                    result.unanswered += 1
                    result.problems.append(f"agent comment {comment['id']} on ticket {ticket['id']} not posted")
    return result


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

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info)
        self.sf = info["services"]["salesforce"]
        self.sf_http = requests.Session()
        self.sf_http.verify = info["ca_bundle"]
        self.sf_http.trust_env = False
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

    def comments(self, ticket_id: Any) -> list[dict[str, Any]]:
        case = self._soql(f"SELECT Id, Description, ContactId FROM Case WHERE Id = '{ticket_id}'")[0]
        rows = self._soql("SELECT Id, CommentBody, IsPublished, CreatedById FROM CaseComment "
                          f"WHERE ParentId = '{ticket_id}' ORDER BY CreatedDate, Id")
        first = {"id": f"{ticket_id}:description", "body": case["Description"] or "", "public": True,
                 "author_id": case["ContactId"]}
        return [first, *({"id": r["Id"], "body": r["CommentBody"] or "", "public": r["IsPublished"],
                          "author_id": case["ContactId"] if r["CreatedById"] == self.api_user and r["IsPublished"]
                          else r["CreatedById"]} for r in rows)]

    def answer(self, ticket_id: Any, body: str, *, public: bool = True, status: str | None = None,
               tags: list[str] | None = None) -> None:
        self.sf_http.post(f"{self.base}/sobjects/CaseComment",
                          json={"ParentId": ticket_id, "CommentBody": body, "IsPublished": public}).raise_for_status()
        if status:
            self.sf_http.patch(f"{self.base}/sobjects/Case/{ticket_id}",
                               json={"Status": "Closed" if status in ("solved", "closed") else status}
                               ).raise_for_status()
