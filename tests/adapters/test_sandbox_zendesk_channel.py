"""The sandbox's Zendesk playing Zendesk's side of the Channel Framework (any_channel),
against a small integration service served by the test over HTTPS on loopback.

Install from the manifest URL (held to manifest.json), the admin UI round trip (what
Zendesk POSTs to ``admin_ui``, the form posted back to ``return_url``), pulls and their
cursor in ``state`` (on demand and on the sandbox clock's schedule), pushes and their
per-resource results and limits, channelback (what it sends, success, errors, reported
errors), and the event callbacks, each held to Zendesk's own JSON Schemas.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import jsonschema
import pytest
import referencing
import requests
import trustme
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from openapi_check import CONTRACTS
from sandbox.server import Sandbox
from sandbox.zendesk.channel_schemas import SCHEMAS
from sandbox.zendesk.channel_validate import validate

SCHEMA_DIR = CONTRACTS / "zendesk" / "channel-framework"
RETURN_PATH = "/zendesk/channels/integration_service_instances/editor_finalizer"
EVENT_SCHEMAS = {
    "create_integration": "event_callback_create_integration.json",
    "create_integration_instance": "event_callback_create_integration_instance.json",
    "destroy_integration_instance": "event_callback_destroy_integration_instance.json",
    "pull_request": "event_callback_pull_request.json",
    "resources_created_from_external_ids": "event_callback_resources_created_from_external_ids.json",
    "channelback": "event_callback_channelback.json",
}


def wait_for(probe: Callable[[], Any], timeout: float = 5.0) -> Any:
    """The first truthy value of ``probe`` within ``timeout`` wall seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s")
        time.sleep(0.02)


def resource(external_id: str, message: str = "my parcel is late", author: str = "cust-1",
             **extra: Any) -> dict[str, Any]:
    return {"external_id": external_id, "message": message, "created_at": "2026-05-04T10:00:00Z",
            "author": {"external_id": author, "name": f"Customer {author}"}, **extra}


# ---------------------------------------------------------------------------- the integration


class Service:
    """A channel integration service as a test writes one: manifest, admin UI (a form, then
    an auto-submitting form to ``return_url``), pull with a cursor in ``state``,
    channelback, clickthrough and an event callback endpoint; it records what it received."""

    def __init__(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, ssl_context=context)
        self.url = f"https://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.received: list[tuple[str, dict[str, Any]]] = []
            self.origin: list[dict[str, Any]] = []  # what the network holds, oldest first
            self.page = 2
            self.pull_answer: tuple[int, Any] | None = None
            self.channelback_answer: tuple[int, Any] | None = None
            self.replies = 0
            self.events: list[dict[str, Any]] = []
            self.manifest: dict[str, Any] = {
                "name": "Test Network", "id": "com.example.test-network", "version": "1.0",
                "author": "socialdesk tests", "push_client_id": "test_network",
                "urls": {"admin_ui": f"{self.url}/admin_ui", "pull_url": f"{self.url}/pull",
                         "channelback_url": f"{self.url}/channelback",
                         "clickthrough_url": f"{self.url}/clickthrough",
                         "event_callback_url": f"{self.url}/events"}}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body in self.received if p == path]

    def events_of(self, type_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["type_id"] == type_id]

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            response = self.route(request)
        return response(environ, start_response)

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/events":
            self.events.extend(request.get_json()["events"])
            self.received.append((path, request.get_json()))
            return Response("", status=200)
        form = request.form.to_dict()
        self.received.append((path, {**form, "_args": request.args.to_dict()}))
        if path == "/manifest":
            return self._json(self.manifest)
        if path == "/admin_ui":
            return Response(
                "<html><body><form method='post' action='./admin_ui/save'>"
                f"<input type='text' name='name' value='{form.get('name', '')}'>"
                "<input type='text' name='account' value=''>"
                f"<input type='hidden' name='return_url' value='{form['return_url']}'>"
                f"<input type='hidden' name='push_id' value='{form['instance_push_id']}'>"
                "<input type='submit' value='Save'></form></body></html>", content_type="text/html")
        if path == "/admin_ui/save":
            metadata = json.dumps({"account": form["account"], "push_id": form["push_id"],
                                   "secret": "s3cret-" + form["account"]})
            return Response(
                f"<html><body><form id='finish' method='post' action='{form['return_url']}'>"
                f"<input type='hidden' name='name' value='{form['name']}'>"
                f"<input type='hidden' name='metadata' value='{metadata.replace(chr(39), '&#39;')}'>"
                "</form><script>document.forms['finish'].submit();</script></body></html>",
                content_type="text/html")
        if path == "/pull":
            if self.pull_answer is not None:
                status, body = self.pull_answer
                return self._json(body, status)
            cursor = json.loads(form.get("state") or "{}").get("cursor", 0)
            batch = self.origin[cursor:cursor + self.page]
            return self._json({"external_resources": batch,
                               "state": json.dumps({"cursor": cursor + len(batch)})})
        if path == "/channelback":
            if self.channelback_answer is not None:
                status, body = self.channelback_answer
                return self._json(body, status)
            self.replies += 1
            return self._json({"external_id": f"reply-{self.replies}", "allow_channelback": True})
        if path == "/clickthrough":
            return Response("", status=302,
                            headers={"Location": f"https://network.example/p/{request.args['external_id']}"})
        return Response("not found", status=404)


# ---------------------------------------------------------------------------- the sandbox


class ZD:
    """The Zendesk stand-in over HTTPS: the API as admins, agents and integrations call it,
    and its control API."""

    def __init__(self, sb: Sandbox) -> None:
        self.info = sb.info()["services"]["zendesk"]
        self.url = self.info["url"]
        self.http = requests.Session()
        self.http.verify = sb.ca_bundle
        self.http.trust_env = False

    def control(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", json=body)
        if expect is not None:
            assert response.status_code == expect, response.text
        else:
            assert response.status_code < 300, response.text
        return response.json()

    def call(self, method: str, path: str, who: str = "api", **kwargs: Any) -> requests.Response:
        auth = (f"{self.info[f'{who}_email']}/token", self.info[f"{who}_token"])
        return self.http.request(method, self.url + path, auth=auth, **kwargs)

    def push(self, token: str | None, body: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.post(f"{self.url}/api/v2/any_channel/push.json", json=body, headers=headers)

    def rows(self) -> list[dict[str, Any]]:
        return self.control("GET", "channel_integrations")["integrations"]

    def row(self, instance_id: int) -> dict[str, Any]:
        return self.control("GET", f"channel_integrations/{instance_id}")

    def ticket(self, tid: int) -> dict[str, Any]:
        response = self.call("GET", f"/api/v2/tickets/{tid}.json")
        assert response.status_code == 200, response.text
        return response.json()["ticket"]

    def comments(self, tid: int) -> list[dict[str, Any]]:
        response = self.call("GET", f"/api/v2/tickets/{tid}/comments.json")
        assert response.status_code == 200, response.text
        return response.json()["comments"]

    def answer(self, tid: int, body: str, public: bool = True) -> None:
        """An agent's comment on a ticket, as the agent's own API call."""
        response = self.call("PUT", f"/api/v2/tickets/{tid}.json", who="agent",
                             json={"ticket": {"comment": {"body": body, "public": public}}})
        assert response.status_code == 200, response.text

    def resources(self, instance_id: int) -> dict[str, dict[str, Any]]:
        listed = self.control("GET", f"channel_integrations/{instance_id}/resources")["resources"]
        return {r["external_id"]: r for r in listed}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    sandbox = Sandbox(services=("zendesk",)).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    svc = Service()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def zd(sb: Sandbox, service: Service) -> ZD:
    client = ZD(sb)
    client.control("POST", "reset")
    service.reset()
    return client


def connect(zd: ZD, service: Service, account: str = "brand") -> dict[str, Any]:
    """Install the service and add an account through its admin UI; the account's row, with
    the push token the admin UI received."""
    out = zd.control("POST", "channel_integrations", {"manifest_url": f"{service.url}/manifest",
                                                      "form": {"name": f"Brand {account}", "account": account}},
                     expect=201)
    row = zd.row(out["instance_id"])
    opened = [c for c in service.calls("/admin_ui") if c["instance_push_id"] == row["instance_push_id"]]
    row["token"] = opened[-1]["zendesk_access_token"]
    return row


# ---------------------------------------------------------------------------- schemas


def test_the_schemas_are_zendesks_own() -> None:
    if not SCHEMA_DIR.is_dir():
        pytest.skip(f"no contracts at {SCHEMA_DIR}")
    files = {p.name: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}
    assert files == SCHEMAS


def _reference_validator(name: str) -> jsonschema.protocols.Validator:
    """jsonschema's draft 4 with the schemas' custom formats and Zendesk's loose types."""
    registry = referencing.Registry().with_resources(
        (n, referencing.Resource.from_contents(s, default_specification=referencing.jsonschema.DRAFT4))
        for n, s in SCHEMAS.items())
    formats = jsonschema.FormatChecker()
    formats.checks("https-url")(lambda v: not isinstance(v, str) or v.startswith("https://"))
    formats.checks("external-id")(lambda v: not isinstance(v, str) or v == v.strip())
    formats.checks("date-time")(lambda v: not isinstance(v, str) or bool(
        re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", v)))
    checker = jsonschema.Draft4Validator.TYPE_CHECKER.redefine("any", lambda _c, _v: True)
    cls = jsonschema.validators.extend(jsonschema.Draft4Validator, type_checker=checker)
    return cls(SCHEMAS[name], registry=registry, format_checker=formats,
               _resolver=registry.resolver(base_uri=name))


@pytest.mark.parametrize("body", [
    {"instance_push_id": "p", "external_resources": [resource("a")]},
    {"instance_push_id": "p", "request_id": "r" * 64, "external_resources": []},
    {"instance_push_id": "p", "request_id": "r" * 65, "external_resources": []},
    {"instance_push_id": "", "external_resources": []},
    {"external_resources": [resource("a")]},
    {"instance_push_id": "p", "external_resources": [resource("a")] * 257},
    {"instance_push_id": "p", "external_resources": [resource("a")] * 256},
    {"instance_push_id": "p", "external_resources": [resource(" a")]},
    {"instance_push_id": "p", "external_resources": [resource("a", message="")]},
    {"instance_push_id": "p", "external_resources": [resource("a", created_at="yesterday")]},
    {"instance_push_id": "p", "external_resources": [{**resource("a"), "author": {"name": "x"}}]},
    {"instance_push_id": "p", "external_resources": [resource("a", file_urls=["http://x.example/f"])]},
    {"instance_push_id": "p", "external_resources": [resource("a", file_urls=["https://x.example/f"])]},
    {"instance_push_id": "p", "external_resources": [resource("a", fields=[{"id": 1, "value": None}])]},
    {"instance_push_id": "p", "external_resources": [resource("a", fields=[{"id": True, "value": 1}])]},
    {"instance_push_id": "p", "external_resources": [resource("a", display_info=[{"type": "t"}])]},
    {"instance_push_id": "p", "external_resources": [resource("a", allow_channelback="yes")]},
    {"instance_push_id": "p", "external_resources": [resource("a", thread_id="t" * 256)]},
    {"instance_push_id": "p", "external_resources": "not a list"},
])
def test_the_validator_reads_the_schemas_as_jsonschema_does(body: dict[str, Any]) -> None:
    reference = sorted(e.message for e in _reference_validator("push_parameters.json").iter_errors(body))
    ours = validate("push_parameters.json", body)
    assert bool(ours) == bool(reference), (ours, reference)


def test_the_validator_applies_keywords_beside_a_ref() -> None:
    event = {"type_id": "channelback", "timestamp": "2026-05-04T10:00:00Z", "subdomain": "s",
             "integration_name": "n", "integration_id": "i", "data": {"url": "https://x.example/cb"}}
    errors = validate("event_callback_channelback.json", event)
    assert "#/data: required property 'request_id' is missing" in errors
    assert validate("event_callback_channelback.json", {**event, "data": {
        "integration_instance_name": "a", "url": "https://x.example/cb", "request_id": "r"}}) == []


def test_plain_http_passes_only_on_loopback_and_only_when_the_service_allows_it() -> None:
    manifest = {"name": "n", "id": "i", "urls": {"admin_ui": "http://127.0.0.1:8080/admin"}}
    assert validate("manifest.json", manifest) == ["#/urls/admin_ui: is not an https URL"]
    assert validate("manifest.json", manifest, plain_loopback=True) == []
    remote = {**manifest, "urls": {"admin_ui": "http://integration.example/admin"}}
    assert validate("manifest.json", remote, plain_loopback=True) == ["#/urls/admin_ui: is not an https URL"]


# ---------------------------------------------------------------------------- install and admin UI


def test_install_reads_the_manifest_and_refuses_one_that_breaks_the_schema(zd: ZD, service: Service) -> None:
    service.manifest = {"name": "Test Network", "id": "com.example.test-network",
                        "urls": {"pull_url": "http://127.0.0.1/pull"}}
    refused = zd.control("POST", "channel_integrations", {"manifest_url": f"{service.url}/manifest"},
                         expect=422)
    assert refused["error"] == "InvalidManifest"
    assert "#/urls: required property 'admin_ui' is missing" in refused["details"]
    assert "#/urls/pull_url: is not an https URL" in refused["details"]
    assert zd.rows() == []
    plain = zd.control("POST", "channel_integrations", {"manifest_url": "http://127.0.0.1/manifest"},
                       expect=400)
    assert plain["error"] == "InvalidValue"

    service.reset()
    service.manifest["urls"]["pull_url"] = "./pull"  # relative to the manifest, as Zendesk's tutorial
    installed = zd.control("POST", "channel_integrations", {"manifest_url": f"{service.url}/manifest"},
                           expect=201)
    [row] = installed["integrations"]
    assert row["instance_id"] is None and row["name"] == "Test Network"
    assert row["manifest"]["urls"]["pull_url"] == f"{service.url}/pull"
    [event] = wait_for(lambda: service.events_of("create_integration"))
    assert event["data"] == {"manifest_url": f"{service.url}/manifest"}
    assert event["integration_id"] == "com.example.test-network" and event["subdomain"] == zd.info["subdomain"]


def test_admin_ui_round_trip_makes_the_account(zd: ZD, service: Service) -> None:
    integ = zd.control("POST", "channel_integrations", {"manifest_url": f"{service.url}/manifest"},
                       expect=201)["integration_id"]
    opened = zd.control("POST", f"channel_integrations/{integ}/admin_ui", {"locale": "de"})
    assert opened["admin_ui"]["status"] == 200 and "<form" in opened["admin_ui"]["body"]
    [posted] = service.calls("/admin_ui")
    assert posted["name"] == posted["metadata"] == posted["state"] == ""
    assert posted["return_url"] == zd.url + RETURN_PATH == opened["return_url"]
    assert uuid.UUID(posted["instance_push_id"])
    assert re.fullmatch(r"[0-9a-f]{64}", posted["zendesk_access_token"])
    assert posted["locale"] == "de" and posted["subdomain"] == zd.info["subdomain"]

    # The admin's browser posts the integration's form back to return_url.
    missing = zd.http.post(posted["return_url"], data={"metadata": "{}"})
    assert missing.status_code == 422 and "name is required" in missing.text
    saved = zd.http.post(posted["return_url"], data={"name": "Brand", "metadata": '{"k": "v"}'})
    assert saved.status_code == 200, saved.text
    row = zd.row(int(saved.headers["X-Sandbox-Instance-Id"]))
    assert (row["instance_name"], row["metadata"], row["state"], row["status"]) == ("Brand", '{"k": "v"}', "", "active")
    assert row["instance_push_id"] == posted["instance_push_id"]
    assert posted["zendesk_access_token"] not in json.dumps(zd.rows())
    again = zd.http.post(posted["return_url"], data={"name": "Brand", "metadata": "{}"})
    assert again.status_code == 422
    [made] = wait_for(lambda: service.events_of("create_integration_instance"))
    assert made["data"] == {"metadata": '{"k": "v"}'}

    # Editing: the admin UI gets the account's values; what comes back replaces them.
    zd.control("POST", f"channel_integrations/{row['instance_id']}/admin_ui",
               {"form": {"name": "Brand (edited)", "account": "edited"}})
    edit = service.calls("/admin_ui")[-1]
    assert (edit["name"], edit["metadata"], edit["instance_push_id"]) == ("Brand", '{"k": "v"}', row["instance_push_id"])
    edited = zd.row(row["instance_id"])
    assert edited["instance_name"] == "Brand (edited)" and json.loads(edited["metadata"])["account"] == "edited"
    assert len(zd.rows()) == 1


def test_the_admin_ui_can_be_filled_in_as_the_admins_browser_would(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    assert json.loads(row["metadata"]) == {"account": "brand", "push_id": row["instance_push_id"],
                                           "secret": "s3cret-brand"}
    assert row["instance_name"] == "Brand brand"
    assert [c["account"] for c in service.calls("/admin_ui/save")] == ["brand"]


# ---------------------------------------------------------------------------- pull


def test_pull_follows_the_cursor_in_state_and_threads_the_tickets(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    service.origin = [resource("p1", "my parcel is late\nsince Monday", thread_id="t1"),
                      resource("p2", "any news?", thread_id="t1"),
                      resource("p3", "wrong size", author="cust-2", thread_id="t2"),
                      resource("p4", "also the colour", author="cust-2", parent_id="p3"),
                      resource("p5", "a note from the network", thread_id="t2", internal_note=True)]
    first = zd.control("POST", f"channel_integrations/{row['instance_id']}/pull")["pull"]
    assert first["status"] == "ok" and first["state_sent"] == ""
    assert json.loads(first["state"]) == {"cursor": 2}
    assert [r["status"]["code"] for r in first["results"]] == ["success", "success"]
    second = zd.control("POST", f"channel_integrations/{row['instance_id']}/pull")["pull"]
    third = zd.control("POST", f"channel_integrations/{row['instance_id']}/pull")["pull"]
    idle = zd.control("POST", f"channel_integrations/{row['instance_id']}/pull")["pull"]
    assert [json.loads(p["state"])["cursor"] for p in (second, third, idle)] == [4, 5, 5]
    assert idle["results"] == []
    sent = service.calls("/pull")
    assert [s["state"] for s in sent] == ["", '{"cursor": 2}', '{"cursor": 4}', '{"cursor": 5}']
    assert all(json.loads(s["metadata"])["account"] == "brand" for s in sent)

    found = zd.resources(row["instance_id"])
    t1, t2 = found["p1"]["ticket_id"], found["p3"]["ticket_id"]
    assert found["p2"]["ticket_id"] == t1 and found["p4"]["ticket_id"] == found["p5"]["ticket_id"] == t2
    assert t1 != t2
    ticket = zd.ticket(t1)
    assert ticket["via"]["channel"] == "any_channel"
    info = ticket["via"]["source"]["from"]["service_info"]
    assert info["registered_integration_service_name"] == "Test Network"
    assert info["integration_service_instance_name"] == "Brand brand"
    assert info["supports_channelback"] is True and ticket["allow_channelback"] is True
    assert ticket["subject"] == "my parcel is late" and ticket["status"] == "new"
    comments = zd.comments(t1)
    assert [c["body"] for c in comments] == ["my parcel is late\nsince Monday", "any news?"]
    assert {c["author_id"] for c in comments} == {ticket["requester_id"]}
    assert all(c["via"]["channel"] == "any_channel" for c in comments)
    requester = zd.call("GET", f"/api/v2/users/{ticket['requester_id']}.json").json()["user"]
    assert requester["name"] == "Customer cust-1" and requester["role"] == "end-user"
    other = zd.comments(t2)
    assert [c["public"] for c in other] == [True, True, False]
    assert zd.ticket(t2)["requester_id"] != ticket["requester_id"]

    created = [e for e in service.events_of("resources_created_from_external_ids")]
    made = {r["external_id"]: r for e in created for r in e["data"]["resource_events"]}
    assert made["p1"]["type_id"] == "comment_on_new_ticket" and made["p2"]["type_id"] == "comment_on_existing_ticket"
    assert made["p1"]["ticket_id"] == t1 and made["p1"]["comment_id"] == comments[0]["id"]
    assert {e["data"]["request_id"] for e in created} <= {first["request_id"], second["request_id"],
                                                          third["request_id"]}


def test_pulls_come_on_the_sandbox_clocks_schedule(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    service.origin = [resource("s1")]
    time.sleep(0.3)
    assert service.calls("/pull") == []
    zd.control("POST", "clock", {"advance": 121})
    pulled = wait_for(lambda: zd.row(row["instance_id"])["pulls"])
    assert [p["trigger"] for p in pulled] == ["schedule"] and pulled[0]["status"] == "ok"
    time.sleep(0.3)
    assert len(zd.row(row["instance_id"])["pulls"]) == 1  # the next one two minutes later
    zd.control("POST", "clock", {"advance": 121})
    wait_for(lambda: len(zd.row(row["instance_id"])["pulls"]) == 2)


def test_a_pull_answer_that_breaks_the_schema_changes_nothing(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    service.pull_answer = (200, {"external_resources": [{**resource("bad"), "author": {}}],
                                 "state": '{"cursor": 9}'})
    refused = zd.control("POST", f"channel_integrations/{row['instance_id']}/pull")["pull"]
    assert refused["status"] == "failed"
    assert "#/external_resources/0/author: required property 'external_id' is missing" in refused["error"]
    service.pull_answer = (200, {"state": '{"cursor": 9}'})
    missing = zd.control("POST", f"channel_integrations/{row['instance_id']}/pull")["pull"]
    assert "required property 'external_resources' is missing" in missing["error"]
    service.pull_answer = (503, {"error": "down"})
    down = zd.control("POST", f"channel_integrations/{row['instance_id']}/pull")["pull"]
    assert down["status"] == "failed" and down["http_status"] == 503 and down["error"].startswith("HTTP 503")
    assert zd.row(row["instance_id"])["state"] == ""
    assert zd.resources(row["instance_id"]) == {}
    assert zd.call("GET", "/api/v2/tickets.json").json()["tickets"] == []


def test_a_thread_reopens_its_solved_ticket_and_follows_up_a_closed_one(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    tid = _ticket_from_push(zd, row, resource("f1", thread_id="conv"))
    assert zd.call("PUT", f"/api/v2/tickets/{tid}.json", json={"ticket": {"status": "solved"}}).ok
    _ticket_from_push(zd, row, resource("f2", "still broken", thread_id="conv"))
    assert zd.resources(row["instance_id"])["f2"]["ticket_id"] == tid
    assert zd.ticket(tid)["status"] == "open"

    assert zd.call("PUT", f"/api/v2/tickets/{tid}.json", json={"ticket": {"status": "closed"}}).ok
    _ticket_from_push(zd, row, resource("f3", "and again", thread_id="conv"))
    _ticket_from_push(zd, row, resource("f4", "hello?", parent_id="f1"))
    found = zd.resources(row["instance_id"])
    follow = found["f3"]["ticket_id"]
    assert follow != tid and found["f4"]["ticket_id"] == follow
    ticket = zd.ticket(follow)
    assert ticket["via"]["channel"] == "any_channel" and ticket["via"]["source"]["rel"] == "follow_up"
    assert ticket["via"]["source"]["from"]["ticket_id"] == tid
    assert zd.ticket(tid)["followup_ids"] == [follow]
    wait_for(lambda: "f4" in {r["external_id"] for e in service.events_of("resources_created_from_external_ids")
                              for r in e["data"]["resource_events"]})
    made = {r["external_id"]: r for e in service.events_of("resources_created_from_external_ids")
            for r in e["data"]["resource_events"]}
    assert made["f3"] == {"type_id": "comment_on_follow_up_ticket", "external_id": "f3", "ticket_id": tid,
                          "follow_up_ticket_id": follow, "comment_id": zd.comments(follow)[0]["id"]}
    assert made["f4"]["type_id"] == "comment_on_existing_ticket" and made["f4"]["ticket_id"] == follow


def test_fields_and_html_of_a_resource_make_the_new_ticket(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    network_field = zd.info["ticket_fields"]["social_network"]
    tid = _ticket_from_push(zd, row, resource(
        "h1", "plain words", html_message="<b>rich</b> words",
        fields=[{"id": "subject", "value": "Set by the integration"}, {"id": "priority", "value": "high"},
                {"id": network_field, "value": "x"}, {"id": "no such field", "value": 1}]))
    ticket = zd.ticket(tid)
    assert (ticket["subject"], ticket["priority"]) == ("Set by the integration", "high")
    assert {"id": network_field, "value": "x"} in ticket["custom_fields"] and "x" in ticket["tags"]
    [comment] = zd.comments(tid)
    assert comment["body"] == "plain words" and "<b>rich</b> words" in comment["html_body"]


# ---------------------------------------------------------------------------- push


def test_push_answers_per_resource_as_zendesk_documents(zd: ZD, service: Service) -> None:
    from openapi_check import validate_zendesk

    row = connect(zd, service)
    body = {"instance_push_id": row["instance_push_id"], "request_id": "push-1", "external_resources": [
        resource("m1", thread_id="th"), resource("m2", "second", thread_id="th"),
        resource("m3", "reply to nothing", parent_id="nowhere"), resource("m1")]}
    pushed = zd.push(row["token"], body)
    assert pushed.status_code == 200, pushed.text
    validate_zendesk("POST", pushed.url, pushed.status_code, pushed.headers, pushed.content, body)
    assert pushed.json() == {"results": [
        {"external_resource_id": "m1", "status": {"code": "success"}},
        {"external_resource_id": "m2", "status": {"code": "success"}},
        {"external_resource_id": "m3", "status": {"code": "could_not_locate_parent_external_resource",
                                                  "description": "nowhere"}},
        {"external_resource_id": "m1", "status": {"code": "already_imported"}}]}
    found = zd.resources(row["instance_id"])
    assert found["m1"]["ticket_id"] == found["m2"]["ticket_id"] and "m3" not in found

    both = zd.push(row["token"], {"instance_push_id": row["instance_push_id"], "external_resources": [
        resource("m4", parent_id="m1", thread_id="th"), resource("m5", parent_id="m1")]})
    assert [r["status"]["code"] for r in both.json()["results"]] == ["processing_error", "halted"]
    assert "m5" not in zd.resources(row["instance_id"])

    pushes = zd.row(row["instance_id"])["pushes"]
    assert [p["request_id"] for p in pushes][0] == "push-1" and pushes[0]["count"] == 4


def test_push_takes_at_most_256_resources_and_refuses_schema_violations(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    many = [resource(f"r{n}", author=f"a{n % 3}") for n in range(257)]
    over = zd.push(row["token"], {"instance_push_id": row["instance_push_id"], "external_resources": many})
    assert over.status_code == 400
    assert over.json()["error"] == "InvalidValue"
    assert "#/external_resources: has 257 items, more than 256" in over.json()["details"]
    assert zd.resources(row["instance_id"]) == {}
    full = zd.push(row["token"], {"instance_push_id": row["instance_push_id"], "external_resources": many[:256]})
    assert full.status_code == 200 and len(full.json()["results"]) == 256
    assert len(zd.resources(row["instance_id"])) == 256

    broken = zd.push(row["token"], {"instance_push_id": row["instance_push_id"], "external_resources": [
        {**resource("x1"), "created_at": "yesterday"}, {"external_id": "x2", "message": "no author"}]})
    assert broken.status_code == 400
    assert set(broken.json()["details"]) == {
        "#/external_resources/0/created_at: is not an ISO 8601 date-time (2015-09-08T22:48:09Z)",
        "#/external_resources/1: required property 'author' is missing",
        "#/external_resources/1: required property 'created_at' is missing"}
    assert [p["http_status"] for p in zd.row(row["instance_id"])["pushes"]] == [400, 200, 400]


def test_push_needs_the_token_the_framework_issued_to_that_account(zd: ZD, service: Service) -> None:
    row = connect(zd, service, "one")
    other = connect(zd, service, "two")
    body = {"instance_push_id": row["instance_push_id"], "external_resources": [resource("z1")]}
    assert zd.push(other["token"], body).status_code == 403
    assert zd.push(zd.info["api_oauth_token"], body).status_code == 403
    assert zd.push(None, body).status_code == 401
    unknown = zd.push(row["token"], {**body, "instance_push_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    agent = zd.http.post(f"{zd.url}/api/v2/any_channel/push.json", json=body,
                         headers={"Authorization": f"Bearer {zd.info['agent_oauth_token']}"})
    assert agent.status_code == 403
    assert zd.resources(row["instance_id"]) == {}
    valid = zd.http.post(f"{zd.url}/api/v2/any_channel/validate_token.json",
                         json={"instance_push_id": row["instance_push_id"]},
                         headers={"Authorization": f"Bearer {row['token']}"})
    assert valid.status_code == 200 and valid.content == b""

    zd.control("DELETE", f"channel_integrations/{row['instance_id']}")
    assert zd.push(row["token"], body).status_code == 401  # the token went with the account
    [gone] = wait_for(lambda: service.events_of("destroy_integration_instance"))
    assert json.loads(gone["data"]["metadata"])["account"] == "one"


# ---------------------------------------------------------------------------- channelback


def _ticket_from_push(zd: ZD, row: dict[str, Any], *resources: dict[str, Any]) -> int:
    pushed = zd.push(row["token"], {"instance_push_id": row["instance_push_id"],
                                    "external_resources": list(resources)})
    assert pushed.status_code == 200 and all(r["status"]["code"] == "success" for r in pushed.json()["results"])
    return zd.resources(row["instance_id"])[resources[0]["external_id"]]["ticket_id"]


def test_an_agents_public_comment_goes_back_through_channelback(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    tid = _ticket_from_push(zd, row, resource("c1", thread_id="conv"), resource("c2", "hello?", thread_id="conv"))
    zd.answer(tid, "A note for the team", public=False)
    zd.answer(tid, "Sorry! It ships today.")
    [sent] = wait_for(lambda: service.calls("/channelback"))
    assert sent["message"] == "Sorry! It ships today."
    assert (sent["parent_id"], sent["thread_id"], sent["recipient_id"]) == ("c2", "conv", "cust-1")
    assert json.loads(sent["metadata"])["secret"] == "s3cret-brand"
    assert uuid.UUID(sent["request_unique_identifier"]) and "state" not in sent
    record = wait_for(lambda: [c for c in zd.row(row["instance_id"])["channelbacks"] if c["status"] == "sent"])[0]
    assert record["external_id"] == "reply-1" and record["ticket_id"] == tid
    assert zd.resources(row["instance_id"])["reply-1"]["type_id"] == "external_id_associated_with_channelback"
    associated = wait_for(lambda: [r for e in service.events_of("resources_created_from_external_ids")
                                   for r in e["data"]["resource_events"]
                                   if r["type_id"] == "external_id_associated_with_channelback"])
    assert associated[0]["ticket_id"] == tid and associated[0]["external_id"] == "reply-1"

    # The reply shows up in the network: a pull that returns it does not import it again.
    service.origin = [resource("reply-1", "Sorry! It ships today.", author="brand")]
    pulled = zd.control("POST", f"channel_integrations/{row['instance_id']}/pull")["pull"]
    assert pulled["results"] == [{"external_resource_id": "reply-1", "status": {"code": "already_imported"}}]
    [dup] = wait_for(lambda: service.events_of("pull_request"))
    assert dup["data"]["duplicate_external_ids"][0]["external_id"] == "reply-1"
    assert dup["data"]["url"] == f"{service.url}/pull"
    assert len(zd.comments(tid)) == 4


def test_channelback_errors_are_recorded_and_reported(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    tid = _ticket_from_push(zd, row, resource("e1"))
    service.channelback_answer = (503, {"error": "network down"})
    zd.answer(tid, "First try")
    failed = wait_for(lambda: [c for c in zd.row(row["instance_id"])["channelbacks"] if c["status"] == "failed"])
    assert failed[0]["http_status"] == 503 and failed[0]["error"].startswith("HTTP 503")
    [event] = wait_for(lambda: service.events_of("channelback"))
    assert event["error"].startswith("HTTP 503")
    assert event["data"] == {"integration_instance_name": "Brand brand", "url": f"{service.url}/channelback",
                             "request_id": failed[0]["request_unique_identifier"]}

    service.channelback_answer = (200, {"allow_channelback": True})
    zd.answer(tid, "Second try")
    wait_for(lambda: len([c for c in zd.row(row["instance_id"])["channelbacks"] if c["status"] == "failed"]) == 2)
    second = zd.row(row["instance_id"])["channelbacks"][-1]
    assert second["error"] == "#/: required property 'external_id' is missing"

    # Accepted, then found to have failed on the network: the integration reports it.
    service.channelback_answer = (200, {"external_id": "late-1", "allow_channelback": False})
    zd.answer(tid, "Third try")
    wait_for(lambda: zd.row(row["instance_id"])["channelbacks"][-1]["status"] == "sent")
    headers = {"Authorization": f"Bearer {row['token']}"}
    report = f"{zd.url}/api/v2/any_channel/channelback/report_error.json"
    bad = zd.http.post(report, json={"instance_push_id": row["instance_push_id"]}, headers=headers)
    assert bad.status_code == 400 and "#/: required property 'external_id' is missing" in bad.json()["details"]
    ok = zd.http.post(report, json={"instance_push_id": row["instance_push_id"], "external_id": "late-1",
                                    "description": "the post was removed"}, headers=headers)
    assert ok.status_code == 200 and ok.content == b""
    latest = zd.row(row["instance_id"])
    assert latest["channelbacks"][-1]["status"] == "failed"
    assert latest["channelbacks"][-1]["error"] == "the post was removed"
    assert latest["channelback_errors"][0]["external_id"] == "late-1"

    # The answer said allow_channelback false: the ticket takes no more channelbacks.
    assert zd.ticket(tid)["allow_channelback"] is False
    zd.answer(tid, "Fourth try")
    time.sleep(0.3)
    assert len(service.calls("/channelback")) == 3


def test_clickthrough_opens_the_integrations_link_with_the_external_id(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    clicked = zd.control("GET", f"channel_integrations/{row['instance_id']}/clickthrough?external_id=p%201")
    assert clicked["clickthrough"]["status"] == 302
    assert clicked["clickthrough"]["location"] == "https://network.example/p/p%201"
    assert service.calls("/clickthrough")[-1]["_args"] == {"external_id": "p 1"}


# ---------------------------------------------------------------------------- events and reset


def test_every_event_callback_holds_its_schema(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    tid = _ticket_from_push(zd, row, resource("v1"))
    service.channelback_answer = (500, {})
    zd.answer(tid, "hello")
    wait_for(lambda: service.events_of("channelback"))
    zd.control("DELETE", f"channel_integrations/{row['instance_id']}")
    wait_for(lambda: service.events_of("destroy_integration_instance"))
    kinds = {e["type_id"] for e in service.events}
    assert kinds >= {"create_integration", "create_integration_instance", "resources_created_from_external_ids",
                     "channelback", "destroy_integration_instance"}
    for event in service.events:
        assert validate(EVENT_SCHEMAS[event["type_id"]], event) == [], event
        assert validate("event_callback_any.json", event) == [], event
    assert all("events" in body for body in service.calls("/events"))


def test_a_reset_forgets_integrations_and_their_accounts(zd: ZD, service: Service) -> None:
    row = connect(zd, service)
    zd.control("POST", "reset")
    assert zd.rows() == []
    assert zd.push(row["token"], {"instance_push_id": row["instance_push_id"],
                                  "external_resources": [resource("q1")]}).status_code == 404


def test_a_second_account_is_its_own(zd: ZD, service: Service) -> None:
    one = connect(zd, service, "one")
    two = connect(zd, service, "two")
    assert one["instance_push_id"] != two["instance_push_id"] and one["push_token"] != two["push_token"]
    _ticket_from_push(zd, one, resource("same", thread_id="t"))
    _ticket_from_push(zd, two, resource("same", thread_id="t"))
    a, b = zd.resources(one["instance_id"])["same"], zd.resources(two["instance_id"])["same"]
    assert a["ticket_id"] != b["ticket_id"]
    assert zd.ticket(a["ticket_id"])["requester_id"] != zd.ticket(b["ticket_id"])["requester_id"]
    refused = zd.control("POST", f"channel_integrations/{one['integration_id']}/pull", expect=409)
    assert refused["error"] == "AmbiguousInstance"
