"""Salesforce fidelity (issue 14): assignment rules on update, CommentBody's 4,000 bytes,
outbound messages only as the deployed Flow and message definition say.

Everything goes through the real simple-salesforce client over HTTPS to the sandbox, and
through the adapter as the daemon builds it (tests/harness.py ``SalesforceHarness``).
"""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

import pytest

from adapters.base import Author, NewTicket
from harness import OutboundReceiver, SalesforceHarness, own_sandbox, reset

WORKFLOW = Path(__file__).resolve().parents[2] / "salesforce/force-app/main/default/workflows/Case.workflow-meta.xml"
OM = "{http://soap.sforce.com/2005/09/outbound}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
ACK = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
       '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
       '</notificationsResponse></soapenv:Body></soapenv:Envelope>')


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    yield from own_sandbox()


@pytest.fixture
def sf(sandbox: Any) -> SalesforceHarness:
    return SalesforceHarness(reset(sandbox.info(), "salesforce"))


def _ticket(post: str, requester: str, **extra: Any) -> NewTicket:
    return NewTicket(external_id=f"x:{post}", subject="X mention from @ada", body="@brand my parcel is late",
                     requester_id=requester, **extra)


def _take(sf: SalesforceHarness, case_id: str) -> str:
    """The agent takes the Case in the UI (an edit there runs no assignment rule)."""
    agent_id = sf.service["user_id"]
    sf.agent().Case.update(case_id, {"OwnerId": agent_id}, headers={"Sforce-Auto-Assign": "FALSE"})
    return agent_id


def test_updates_by_socialdesk_leave_the_case_with_the_agent_who_took_it(sf: SalesforceHarness) -> None:
    """Adapter: every update of an existing Case says Sforce-Auto-Assign: FALSE, and a
    create that meets an existing Case (a retry) reads it instead of updating it (the old
    adapter sent no header on update and upserted with TRUE on retry). Fails against the old
    sandbox at its last step: an update without the header kept the owner there."""
    desk = sf.adapter()
    requester = desk.upsert_requester(Author(network="x", id="1", handle="ada"))
    ticket = _ticket("1790001", requester)          # the route runs the assignment rule
    ref = desk.create_ticket(ticket, idempotency_key=ticket.external_id)
    api = sf.agent()
    assert api.Case.get(ref.id)["OwnerId"] == sf.service["queue_id"]
    agent_id = _take(sf, ref.id)
    desk.update_ticket(ref.id, priority="urgent", add_tags=("social_viral",))       # viral raise
    desk.add_comment(ref.id, "@brand still waiting", public=True)                  # follow-up mention
    desk.add_comments([(ref.id, "a private note", False, None)])
    again = desk.create_ticket(ticket, idempotency_key=ticket.external_id)         # a retry
    assert again.id == ref.id
    [batched] = desk.create_tickets([ticket])                                     # a batch retry
    assert not isinstance(batched, Exception) and batched.id == ref.id
    case = api.Case.get(ref.id)
    assert case["OwnerId"] == agent_id and case["Priority"] == "High"
    assert api.query("SELECT COUNT() FROM Case WHERE Social_Post_Id__c = 'x:1790001'")["totalSize"] == 1
    log = [r for r in sf.control.get("requests")["requests"] if r["method"] in ("PATCH", "POST")
           and "/sobjects" in r["path"] and r["user"] == sf.service["api_username"]]
    updates = [r for r in log if r["method"] == "PATCH" and "/Contact/" not in r["path"]]
    assert updates and all(r["auto_assign"] == "FALSE" for r in updates)
    # The explicit choice on insert stays: the first create said TRUE.
    assert log[1]["path"].rstrip("/").endswith("/sobjects/Case") and log[1]["auto_assign"] == "TRUE"
    # Without the header (what the old adapter sent), the same update takes the case away.
    api_as_socialdesk = desk.sf
    api_as_socialdesk.Case.update(ref.id, {"Priority": "Low"})
    assert api.Case.get(ref.id)["OwnerId"] == sf.service["queue_id"]


def test_rules_on_update_upsert_and_collections(sf: SalesforceHarness) -> None:
    """Sandbox: absent/TRUE header runs the active rule on update, upsert-update and
    Collections PATCH; FALSE keeps the owner. Fails against the old sandbox (insert only)."""
    api = sf.adapter().sf
    agent_id = sf.service["user_id"]
    queue = sf.service["queue_id"]
    made = api.Case.create({"Subject": "s", "Origin": "Social", "Social_Post_Id__c": "x:1"},
                           headers={"Sforce-Auto-Assign": "FALSE"})["id"]
    for update in (
            lambda h: api.Case.update(made, {"Subject": "u"}, headers=h),
            lambda h: api.Case.upsert("Social_Post_Id__c/x:1", {"Subject": "u"}, headers=h),
            lambda h: api.restful("composite/sobjects", method="PATCH", headers=h, json={
                "allOrNone": False, "records": [{"attributes": {"type": "Case"}, "Id": made, "Subject": "u"}]}),
            lambda h: api.restful("composite/sobjects/Case/Social_Post_Id__c", method="PATCH", headers=h, json={
                "allOrNone": False, "records": [{"attributes": {"type": "Case"}, "Social_Post_Id__c": "x:1"}]})):
        for header, owner in (({"Sforce-Auto-Assign": "FALSE"}, agent_id), ({}, queue),
                              ({"Sforce-Auto-Assign": "FALSE"}, agent_id), ({"Sforce-Auto-Assign": "TRUE"}, queue)):
            if owner == agent_id:
                _take(sf, made)
            update(header)
            assert api.Case.get(made)["OwnerId"] == owner, (header, owner)


def test_comment_bodies_are_cut_to_4000_bytes_between_characters(sf: SalesforceHarness) -> None:
    """Adapter: CommentBody holds 4,000 BYTES of UTF-8. The old adapter cut at 4,000
    characters, so a body of 2-, 3- or 4-byte characters was refused (STRING_TOO_LONG) by the
    sandbox, which counts bytes as Salesforce does (that part of the sandbox was already right:
    test_case_comments_by_the_agent)."""
    desk = sf.adapter()
    requester = desk.upsert_requester(Author(network="x", id="2", handle="bea"))
    ref = desk.create_ticket(_ticket("1790002", requester), idempotency_key="k")
    body = "a" + "é" * 1999 + "😀" * 10                # 1 + 3998 + 40 bytes: over, and a cut inside an emoji
    desk.add_comment(ref.id, body, public=True)
    desk.add_comments([(ref.id, "€" * 1400, False, None)])   # 4,200 bytes
    rows = sf.agent().query(f"SELECT CommentBody FROM CaseComment WHERE ParentId = '{ref.id}' "
                            "ORDER BY CreatedDate, Id")["records"]
    stored = [r["CommentBody"] for r in rows]
    assert stored == ["a" + "é" * 1999, "€" * 1333]
    assert all(len(s.encode()) <= 4000 for s in stored)
    with pytest.raises(Exception) as err:   # the sandbox refuses what Salesforce refuses
        desk.sf.CaseComment.create({"ParentId": ref.id, "CommentBody": "€" * 1334})
    assert "STRING_TOO_LONG" in str(err.value.content)


# ----------------------------------------------------------------------------- outbound messages


@pytest.fixture
def receiver() -> Iterator[OutboundReceiver]:
    r = OutboundReceiver(ACK)
    try:
        yield r
    finally:
        r.close()


def _messages(sf: SalesforceHarness, count: int, settle: float = 0.3) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = sf.control.get("outbound_messages")["messages"]
        if len(messages) >= count and all(m["status"] == "delivered" for m in messages):
            time.sleep(settle)
            return sf.control.get("outbound_messages")["messages"]
        time.sleep(0.05)
    raise AssertionError(f"timed out: {sf.control.get('outbound_messages')}")


def test_only_published_comments_send_the_case_message(sf: SalesforceHarness, receiver: OutboundReceiver) -> None:
    """Sandbox: the Socialdesk_Case_Comment_Published flow (IsPublished = true, and on update
    only when it becomes true) is what makes a comment send the Case message; a private
    note, an edit of a published comment and a deletion send none. Fails against the old
    sandbox, which sent one for every comment write."""
    sf.control.post("outbound", {"url": receiver.url, "definition": WORKFLOW.read_text()})
    case_id = sf.adapter().sf.Case.create({"Subject": "s", "Origin": "Social", "Social_Post_Id__c": "x:9"},
                                         headers={"Sforce-Auto-Assign": "FALSE"})["id"]
    _messages(sf, 1)
    agent = sf.agent()
    note = agent.CaseComment.create({"ParentId": case_id, "CommentBody": "internal", "IsPublished": False})["id"]
    agent.CaseComment.update(note, {"CommentBody": "still internal"})
    assert len(_messages(sf, 1, settle=0.5)) == 1
    agent.CaseComment.update(note, {"IsPublished": True})           # made public: one message
    assert len(_messages(sf, 2)) == 2
    agent.CaseComment.update(note, {"CommentBody": "public, edited"})  # already public: none
    agent.CaseComment.delete(note)
    assert len(_messages(sf, 2, settle=0.5)) == 2
    agent.CaseComment.create({"ParentId": case_id, "CommentBody": "We're on it", "IsPublished": True})
    assert len(_messages(sf, 3)) == 3


def test_the_deployed_definition_sends_its_fields_and_no_session(sf: SalesforceHarness, receiver: OutboundReceiver) -> None:
    """Sandbox: registered from salesforce/'s Case.workflow-meta.xml, the message carries
    exactly its <fields> and, as includeSessionId is false, a nil SessionId (no session
    token anywhere in the body). Fails against the old sandbox, which ignored the definition
    and sent a live session id."""
    action = sf.control.post("outbound", {"url": receiver.url, "definition": WORKFLOW.read_text()})["outbound"]
    assert action["name"] == "Socialdesk_Case_Changed" and action["send_session_id"] is False
    assert action["fields"] == ["Id", "Social_Post_Id__c", "LastModifiedDate"]
    sf.adapter().sf.Case.create({"Subject": "s", "Origin": "Social", "Social_Post_Id__c": "x:10"})
    _messages(sf, 1)
    body = receiver.bodies[0]
    session = ET.fromstring(body).find(f".//{OM}notifications/{OM}SessionId")
    assert session is not None and session.get(f"{XSI}nil") == "true" and not (session.text or "").strip()
    for token in (sf.service["api_token"], sf.service["token"]):
        assert token not in body
    with pytest.raises(Exception):
        sf.control.post("outbound", {"url": receiver.url, "definition": "<!DOCTYPE x []><x/>"})
