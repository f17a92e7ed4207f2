"""The Helpdesk contract: every registered helpdesk adapter, against the sandbox."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

import adapters
from adapters.base import (
    AuthFailed, Author, BatchHelpdesk, Helpdesk, NewTicket, NotFound, RateLimited, RetriableError,
)
from harness import HARNESSES

KINDS = adapters.kinds("helpdesk")


def test_every_helpdesk_adapter_has_a_harness() -> None:
    assert set(KINDS) <= set(HARNESSES), "add a harness in tests/harness.py for each new adapter"


@pytest.fixture(params=KINDS)
def h(request: pytest.FixtureRequest, sandbox_info: dict) -> Any:
    return HARNESSES[request.param](sandbox_info)


def _author() -> Author:
    uid = str(uuid.uuid4().int % 10**18)
    return Author(network="x", id=uid, handle=f"cust_{uid[:8]}", name="Ada Customer", followers=12)


def _ticket(desk: Any, requester: str, **extra: Any) -> NewTicket:
    post_id = str(uuid.uuid4().int % 10**18)
    return NewTicket(external_id=f"x:post:{post_id}", subject="X mention from @ada",
                     body="@brand my parcel is late", requester_id=requester,
                     tags=("social", "x"), priority="normal", **extra)


def test_adapter_satisfies_protocol(h: Any) -> None:
    desk = h.adapter()
    assert isinstance(desk, Helpdesk)
    assert desk.whoami()


def test_requester_is_created_once(h: Any) -> None:
    desk = h.adapter()
    author = _author()
    first = desk.upsert_requester(author)
    again = desk.upsert_requester(author)
    assert first == again


def test_create_is_idempotent_by_key_and_findable_by_external_id(h: Any) -> None:
    desk = h.adapter()
    requester = desk.upsert_requester(_author())
    new = _ticket(desk, requester)
    ref = desk.create_ticket(new, idempotency_key=new.external_id)
    assert ref.status in ("new", "open") and ref.external_id == new.external_id
    retry = desk.create_ticket(new, idempotency_key=new.external_id)
    assert retry.id == ref.id
    assert [t.id for t in desk.find_tickets(new.external_id)] == [ref.id]
    assert desk.find_tickets("x:post:does-not-exist") == []


def test_ticket_carries_fields_and_first_comment(h: Any) -> None:
    desk = h.adapter()
    requester = desk.upsert_requester(_author())
    new = _ticket(desk, requester)
    ref = desk.create_ticket(new, idempotency_key=new.external_id)
    if h.supports_tags:
        assert set(new.tags) <= set(ref.tags)
    assert ref.priority == h.priority("normal") and ref.requester_id == requester
    comments = desk.list_comments(ref.id)
    assert comments[0].body == new.body and comments[0].public and not comments[0].by_agent


def test_comments_and_internal_notes(h: Any) -> None:
    desk = h.adapter()
    requester = desk.upsert_requester(_author())
    new = _ticket(desk, requester)
    ref = desk.create_ticket(new, idempotency_key=new.external_id)
    desk.add_comment(ref.id, "follow-up from the customer", public=True, author_id=requester)
    desk.add_comment(ref.id, "posted: https://x.com/brand/status/1", public=False)
    comments = desk.list_comments(ref.id)
    assert [c.public for c in comments] == [True, True, False]
    assert [c.body for c in comments[1:]] == ["follow-up from the customer", "posted: https://x.com/brand/status/1"]
    if h.comments_keep_their_author:
        assert comments[1].author_id == requester


def test_agent_replies_are_read_incrementally(h: Any) -> None:
    desk = h.adapter()
    requester = desk.upsert_requester(_author())
    new = _ticket(desk, requester)
    ref = desk.create_ticket(new, idempotency_key=new.external_id)
    start = h.cursor_before_now()
    desk.add_comment(ref.id, "any news?", public=True, author_id=requester)
    h.agent_comment(ref.id, "Hi Ada, a new parcel is on its way.", public=True)
    h.agent_comment(ref.id, "internal: refund approved", public=False)
    h.advance_clock(120)
    replies: list[Any] = []
    page = desk.fetch_agent_replies(start)
    replies.extend(page.items)
    while page.next_page:
        page = desk.fetch_agent_replies(start, page.next_page)
        replies.extend(page.items)
    mine = [r for r in replies if r.ticket_id == ref.id]
    agent = [r for r in mine if r.by_agent]
    assert [(r.body, r.public) for r in agent] == [
        ("Hi Ada, a new parcel is on its way.", True), ("internal: refund approved", False)]
    assert any(not r.by_agent for r in mine)
    assert page.cursor.value is not None and page.cursor.value != start.value


def test_agent_replies_of_other_tickets_are_left_out_when_the_caller_names_its_own(h: Any) -> None:
    """An account's export carries every ticket's comments (email, other routes); with
    ``linked`` the adapter keeps those on the caller's tickets and reads no more of the rest
    (Zendesk: no role lookups of their authors)."""
    desk = h.adapter()
    start = h.cursor_before_now()
    refs = []
    for _ in range(2):
        requester = desk.upsert_requester(_author())
        new = _ticket(desk, requester)
        refs.append(desk.create_ticket(new, idempotency_key=new.external_id).id)
        desk.add_comment(refs[-1], "any news?", public=True, author_id=requester)
        h.agent_comment(refs[-1], "On its way.", public=True)
    h.advance_clock(120)
    asked: list[set[str]] = []

    def linked(ids: Any) -> set[str]:
        asked.append(set(ids))
        return {refs[0]}

    replies: list[Any] = []
    page = desk.fetch_agent_replies(start, linked=linked)
    replies.extend(page.items)
    while page.next_page:
        page = desk.fetch_agent_replies(start, page.next_page, linked=linked)
        replies.extend(page.items)
    assert set(refs) <= set().union(*asked), "asked about both tickets"
    assert {r.ticket_id for r in replies} == {refs[0]}
    assert [r.body for r in replies if r.by_agent and r.public] == ["On its way."]


def test_followup_of_a_solved_ticket(h: Any) -> None:
    desk = h.adapter()
    requester = desk.upsert_requester(_author())
    first = _ticket(desk, requester)
    old = desk.create_ticket(first, idempotency_key=first.external_id)
    h.set_status(old.id, "closed")
    assert desk.get_ticket(old.id).is_closed
    second = _ticket(desk, requester, followup_of=old.id)
    new = desk.create_ticket(second, idempotency_key=second.external_id)
    assert new.id != old.id and not new.is_closed


def test_unknown_ticket_is_not_found(h: Any) -> None:
    with pytest.raises(NotFound):
        h.adapter().get_ticket(h.unknown_ticket_id())


def test_rate_limit_raises_without_sleeping(h: Any) -> None:
    desk = h.adapter()
    desk.whoami()
    h.throttle()
    try:
        with pytest.raises(RateLimited) as caught:
            for _ in range(3):
                desk.find_tickets("x:post:rate")
        assert caught.value.retry_after >= 1
    finally:
        h.unthrottle()


def test_bad_token_is_auth_failed_and_never_shown(h: Any) -> None:
    desk = h.adapter(token="wrong-token-Qk7")
    with pytest.raises(AuthFailed) as caught:
        desk.whoami()
    assert "Qk7" not in str(caught.value) and "Qk7" not in repr(desk) and "Qk7" not in repr(desk.settings)


def test_server_error_is_retriable(h: Any) -> None:
    desk = h.adapter()
    h.fail_next_read(503)
    with pytest.raises(RetriableError):
        desk.find_tickets("x:post:fault")
    assert desk.find_tickets("x:post:fault") == []


@pytest.mark.parametrize("auth", ["jwt", "client_credentials"])
def test_salesforce_signs_in_through_the_token_endpoint(auth: str, sandbox_info: dict) -> None:
    from adapters.base import Secret
    from adapters.helpdesk.salesforce import SalesforceHelpdesk, SalesforceSettings

    sf = sandbox_info["services"]["salesforce"]
    extra = ({"private_key": Secret(sf["jwt_private_key_pem"], "private_key")} if auth == "jwt"
             else {"client_secret": Secret(sf["client_secret"], "client_secret")})
    desk = SalesforceHelpdesk(SalesforceSettings(login_url=sf["login_url"], auth=auth, client_id=sf["client_id"],
                                                 username=sf["api_username"], ca_bundle=sandbox_info["ca_bundle"],
                                                 **extra))
    assert desk.whoami() == sf["api_user_id"]
    assert desk.org_id and desk.org_id[:15] == sf["organization_id"][:15]
    wrong = SalesforceHelpdesk(SalesforceSettings(login_url=sf["login_url"], auth="client_credentials",
                                                  client_id=sf["client_id"], ca_bundle=sandbox_info["ca_bundle"],
                                                  client_secret=Secret("not-the-secret-Jq2", "client_secret")))
    with pytest.raises(AuthFailed) as caught:
        wrong.whoami()
    assert "Jq2" not in str(caught.value) and "Jq2" not in repr(wrong.settings)


# --------------------------------------------------------------------------- batches


def test_adapter_writes_in_batches(h: Any) -> None:
    desk = h.adapter()
    assert isinstance(desk, BatchHelpdesk) and desk.batch_max >= 100 and desk.batch_jobs >= 1


def test_batched_requesters_are_created_once_and_match_single_upserts(h: Any) -> None:
    desk = h.adapter()
    authors = [_author() for _ in range(5)]
    single = desk.upsert_requester(authors[0])
    first = desk.upsert_requesters(authors)
    again = desk.upsert_requesters(list(reversed(authors)))
    assert all(isinstance(i, str) for i in first) and len(set(first)) == 5
    assert first[0] == single and list(reversed(again)) == first


def test_batched_tickets_keep_their_order_and_a_retry_opens_none_twice(h: Any) -> None:
    desk = h.adapter()
    requesters = desk.upsert_requesters([_author() for _ in range(4)])
    tickets = [_ticket(desk, r) for r in requesters]
    jobs: list[str] = []
    refs = desk.create_tickets(tickets, on_submitted=lambda job, start, end: jobs.append(job))
    assert [r.external_id for r in refs] == [t.external_id for t in tickets]
    assert all(desk.job_settled(j) for j in jobs)
    for ticket, ref in zip(tickets, refs):
        assert [t.id for t in desk.find_tickets(ticket.external_id)] == [ref.id]
        assert desk.list_comments(ref.id)[0].body == ticket.body
    found = desk.get_tickets([r.id for r in refs])
    assert set(found) == {r.id for r in refs} and all(not t.is_closed for t in found.values())


def test_batched_comments_land_on_each_ticket_and_failures_stay_per_item(h: Any) -> None:
    desk = h.adapter()
    requesters = desk.upsert_requesters([_author() for _ in range(3)])
    refs = desk.create_tickets([_ticket(desk, r) for r in requesters])
    results = desk.add_comments([(ref.id, f"follow-up {i}", True, requesters[i]) for i, ref in enumerate(refs)]
                                + [(h.missing_ticket_id, "to nowhere", True, None)])
    assert results[:3] == [None, None, None]
    assert isinstance(results[3], Exception)
    for i, ref in enumerate(refs):
        assert any(c.body == f"follow-up {i}" and c.public for c in desk.list_comments(ref.id))


def test_a_large_batch_goes_out_as_several_jobs_each_named_with_its_items(h: Any) -> None:
    desk = h.adapter()
    authors = [_author() for _ in range(desk.batch_max + 5)]
    slices: list[tuple[int, int]] = []
    requesters = desk.upsert_requesters(authors, on_submitted=lambda job, start, end: slices.append((start, end)))
    assert len(requesters) == len(authors) and all(isinstance(r, str) for r in requesters)
    assert len(set(requesters)) == len(authors)
    if desk.batch_jobs > 1:
        assert slices == [(0, desk.batch_max), (desk.batch_max, len(authors))]
    assert requesters[-1] == desk.upsert_requester(authors[-1]), "each result belongs to its own author"


def test_comments_and_new_tickets_go_out_side_by_side_when_the_helpdesk_offers_it(h: Any) -> None:
    desk = h.adapter()
    if not hasattr(desk, "write_tickets"):
        pytest.skip(f"{desk.kind} writes synchronously: comments and tickets have no jobs to run side by side")
    requesters = desk.upsert_requesters([_author() for _ in range(5)])
    open_refs = desk.create_tickets([_ticket(desk, r) for r in requesters[:2]])
    new = [_ticket(desk, r) for r in requesters[2:]]
    slices: list[tuple[str, int, int]] = []
    commented, created = desk.write_tickets(
        [(ref.id, f"side by side {i}", True, requesters[i]) for i, ref in enumerate(open_refs)]
        + [(h.missing_ticket_id, "to nowhere", True, None)], new,
        on_submitted=lambda job, start, end: slices.append((job, start, end)))
    assert [(start, end) for _, start, end in slices] == [(0, 3), (3, 6)], "comments first, then the tickets"
    assert all(desk.job_settled(job) for job, *_ in slices)
    assert commented[:2] == [None, None] and isinstance(commented[2], Exception)
    assert [ref.external_id for ref in created] == [t.external_id for t in new]
    for i, ref in enumerate(open_refs):
        assert any(c.body == f"side by side {i}" for c in desk.list_comments(ref.id))
    for ticket, ref in zip(new, created):
        assert [t.id for t in desk.find_tickets(ticket.external_id)] == [ref.id]
