"""The daemon's HTTP layer asks the helpdesk adapters how to check a delivery
(``ReceivesWebhooks``, ``ReceivesOutboundMessages``) and is served by waitress."""
from __future__ import annotations

import json
import socket
import time
from typing import Any

import requests
from werkzeug.test import Client

from adapters.base import Secret
from adapters.helpdesk.salesforce import SalesforceHelpdesk, SalesforceSettings
from adapters.helpdesk.zendesk import ZendeskHelpdesk, ZendeskSettings
from adapters.helpdesk.zendesk.webhook import zendesk_signature
from adapters.base import Author, NewTicket
from sync.web import TokenBucket, WebServer, create_app

SECRET = "d2ViaG9vay1zZWNyZXQtZm9yLXRoZS13ZWItdGVzdHM="
ORG = "00D000000000042AAA"
CASE = "500000000000001AAA"


def outbound(org: str = ORG[:15], case: str = CASE, extra: str = "", sobject_type: str = "sf:Case",
             post_id: str = "x:1790000000000000000") -> bytes:
    """A notification as the Socialdesk_Case_Changed definition sends it."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>{extra}<soapenv:Envelope '
            f'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f'<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f'<OrganizationId>{org}</OrganizationId><SessionId xsi:nil="true"/>'
            f'<Notification><Id>04l1</Id><sObject xsi:type="{sobject_type}" '
            f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f'<sf:Id>{case}</sf:Id><sf:Social_Post_Id__c>{post_id}</sf:Social_Post_Id__c></sObject>'
            f'</Notification></notifications></soapenv:Body></soapenv:Envelope>').encode()


OUTBOUND = outbound()


def desks() -> dict[str, Any]:
    """Adapters as the daemon builds them; checking a delivery needs no connection."""
    zendesk = ZendeskHelpdesk(ZendeskSettings(url="https://acme.zendesk.example", email="bot@acme.example",
                                              token=Secret("token", "token")))
    salesforce = SalesforceHelpdesk(SalesforceSettings(login_url="https://login.salesforce.example"))
    return {"zd": zendesk, "sf": salesforce}


def signed(body: bytes, when: float) -> dict[str, str]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    return {"X-Zendesk-Webhook-Signature": zendesk_signature(SECRET, stamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp, "Content-Type": "application/json"}


def test_deliveries_are_checked_by_the_helpdesk_adapter() -> None:
    hints: list[tuple[str, str]] = []
    built = desks()
    app = create_app({"zd": SECRET, "sf": SECRET}.get, lambda h, t: hints.append((h, t)), lambda: {},
                     org_ids={"sf": ORG, "zd": ORG}.get, helpdesks=built.get)
    client = Client(app)
    body = json.dumps({"ticket_id": "42", "author_id": "7", "requester_id": "9"}).encode()
    now = time.time()
    assert client.post("/hooks/zendesk/zd", data=body, headers=signed(body, now)).status_code == 202
    assert client.post("/hooks/zendesk/zd", data=body, headers=signed(body, now)).status_code == 409
    own = json.dumps({"ticket_id": "43", "author_id": "9", "requester_id": "9"}).encode()
    answer = client.post("/hooks/zendesk/zd", data=own, headers=signed(own, now + 1))
    assert answer.status_code == 202 and answer.get_json() == {"accepted": True, "hint": False}
    # A Salesforce org has no signed webhooks, a Zendesk account no outbound messages.
    assert client.post("/hooks/zendesk/sf", data=body, headers=signed(body, now + 2)).status_code == 404
    assert client.post("/hooks/salesforce/zd", data=OUTBOUND).status_code == 404
    ack = client.post("/hooks/salesforce/sf", data=OUTBOUND, headers={"Content-Type": "text/xml"})
    assert ack.status_code == 200 and b"<Ack>true</Ack>" in ack.data and ack.content_type.startswith("text/xml")
    assert client.post("/hooks/salesforce/sf", data=b"<nope").status_code == 400
    assert client.post("/hooks/salesforce/sf", data=OUTBOUND.replace(b"00D000000000042", b"00D000000000001")
                       ).status_code == 401
    assert hints == [("zd", "42"), ("sf", "500000000000001AAA")]


def test_an_unknown_helpdesk_gets_404_not_an_error() -> None:
    app = create_app({"gone": SECRET}.get, lambda h, t: None, lambda: {}, helpdesks=lambda name: None)
    body = b'{"ticket_id": "1"}'
    assert Client(app).post("/hooks/zendesk/gone", data=body, headers=signed(body, time.time())).status_code == 404


def test_waitress_serves_on_a_free_port_and_stops_quickly() -> None:
    app = create_app(lambda _: None, lambda h, t: None, lambda: {"ok": True})
    web = WebServer(app, "127.0.0.1", 0).start()
    port = int(web.url.rsplit(":", 1)[1])
    assert port > 0
    with requests.Session() as http:            # a kept-alive connection must not hold the stop
        response = http.get(f"{web.url}/healthz")
        assert response.json() == {"status": "alive"} and response.headers["Server"] == "socialdesk"
        assert http.get(f"{web.url}/health").json() == {"status": "alive"}, "the older name answers the same"
        assert "ok" not in http.get(f"{web.url}/health").text, "the status is not shown to anyone"
        started = time.monotonic()
        web.stop()
        assert time.monotonic() - started < 2.0
    assert not web.thread.is_alive()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_stop_still_closes_the_listener_when_its_wake_up_pipe_is_gone() -> None:
    """The listener is woken through a pipe to close from its own loop; when that pipe is
    already gone (the loop closing it, or the process short of descriptors), stopping must
    still free the port, not end in 'Bad file descriptor' (the old stop did)."""
    import os

    app = create_app(lambda _: None, lambda h, t: None, lambda: {})
    web = WebServer(app, "127.0.0.1", 0).start()
    port = int(web.url.rsplit(":", 1)[1])
    assert requests.get(f"{web.url}/healthz").status_code == 200
    os.close(web.server.trigger.trigger)       # the write end the stop would wake the loop through
    web.server.trigger._fds = [fd for fd in web.server.trigger._fds if fd != web.server.trigger.trigger]
    web.stop(timeout=3.0)
    assert not web.thread.is_alive()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


# ----------------------------------------------------------------------------- Salesforce outbound messages


def _sandbox_desk() -> Any:
    """A Salesforce sandbox, its harness and the adapter as the daemon builds it."""
    from harness import SalesforceHarness, own_sandbox, reset

    sandboxes = own_sandbox()
    sandbox = next(sandboxes)
    harness = SalesforceHarness(reset(sandbox.info(), "salesforce"))
    return sandboxes, harness, harness.adapter()


def test_outbound_endpoint_checks_before_any_api_call_and_coalesces() -> None:
    """Only a message of the right org, shape and fields, without a DTD, makes socialdesk
    read; N notifications for one pending Case cost one read; over the helpdesk's rate the
    answer is 429 (Salesforce sends an unacknowledged message again). The old receiver read
    for every post that named the org (two API calls each), DTDs and all."""
    sandboxes, sf, desk = _sandbox_desk()
    try:
        org = desk.account_key().split()[-1]
        requester = desk.upsert_requester(Author(network="x", id="1", handle="ada"))
        case = desk.create_ticket(NewTicket(external_id="x:1790000000000000000", subject="s", body="b",
                                            requester_id=requester), idempotency_key="k").id

        def api_calls() -> int:
            return sum(1 for r in sf.control.get("requests")["requests"] if r["path"].startswith("/services/data"))

        app = create_app(lambda _: None, lambda h, t: desk.list_comments(t), lambda: {},
                         org_ids={"sf": org}.get, helpdesks={"sf": desk}.get)
        web = WebServer(app, "127.0.0.1", 0).start()
        try:
            url = f"{web.url}/hooks/salesforce/sf"
            headers = {"Content-Type": "text/xml; charset=utf-8"}
            before = api_calls()
            bomb = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>')
            refused = [outbound(org[:15], case, extra=bomb), outbound("00D000000000001", case),
                       outbound(org[:15], case, sobject_type="sf:Contact"), outbound(org[:15], "003000000000001AAA"),
                       outbound(org[:15], case, post_id="")]
            assert [requests.post(url, data=b, headers=headers).status_code for b in refused] == [400, 401, 400, 400, 400]
            assert api_calls() == before
            for _ in range(5):
                answer = requests.post(url, data=outbound(org[:15], case), headers=headers)
                assert answer.status_code == 200 and b"<Ack>true</Ack>" in answer.content
            assert api_calls() == before + 2          # one read of the case and its comments
            app.outbound_settled("sf", case)          # handled: the next notification is news
            app.outbound_bucket = TokenBucket(rate=0.001, burst=1.0)
            assert requests.post(url, data=outbound(org[:15], case), headers=headers).status_code == 200
            assert api_calls() == before + 4
            app.outbound_settled("sf", case)
            limited = requests.post(url, data=outbound(org[:15], case), headers=headers)
            assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
            assert api_calls() == before + 4
        finally:
            web.stop()
    finally:
        sandboxes.close()
