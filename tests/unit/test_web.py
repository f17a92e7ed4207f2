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
from sync.web import WebServer, create_app

SECRET = "d2ViaG9vay1zZWNyZXQtZm9yLXRoZS13ZWItdGVzdHM="
ORG = "00D000000000042AAA"
OUTBOUND = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            f'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
            f'<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f'<OrganizationId>{ORG[:15]}</OrganizationId>'
            f'<Notification><Id>04l1</Id><sObject xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f'<sf:Id>500000000000001AAA</sf:Id></sObject></Notification>'
            f'</notifications></soapenv:Body></soapenv:Envelope>').encode()


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
        response = http.get(f"{web.url}/health")
        assert response.json() == {"ok": True} and response.headers["Server"] == "socialdesk"
        started = time.monotonic()
        web.stop()
        assert time.monotonic() - started < 2.0
    assert not web.thread.is_alive()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
