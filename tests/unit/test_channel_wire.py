"""The Channel Framework's wire as socialdesk speaks it, held to Zendesk's own JSON Schemas
(../shared/contracts/zendesk/channel-framework, zendesk/any_channel_json_schemas v0.15.0):
the manifest, external resources, pull and channelback answers; and what Zendesk posts
(admin UI, pull, channelback, event callbacks) read or refused with a clear reason."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from adapters.base import Author, FatalError, NewTicket, Secret
from adapters.helpdesk.zendesk.channel import (
    MAX_MESSAGE, channelback_payload, external_resource, manifest, pull_payload, read_admin, read_channelback,
    read_events, read_pull, read_push_wait,
)
from sync.channel.ledger import resource_id, split_settings, thread_ref

SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "zendesk" / "channel-framework"
AUTHOR = Author(network="x", id="4411", handle="carol", name="Carol C", followers=120)
WHEN = datetime(2026, 12, 7, 9, 30, 5, tzinfo=timezone.utc)
URLS = {k: f"https://desk.example.com/channel/{k}" for k in
        ("admin_ui", "pull_url", "channelback_url", "clickthrough_url", "healthcheck_url", "event_callback_url")}


def _https_url(value: object) -> bool:
    return not isinstance(value, str) or value.startswith("https://")


def _external_id(value: object) -> bool:
    return not isinstance(value, str) or (value == value.strip() and value.isascii())


def errors(name: str, document: Any) -> list[str]:
    """Every way ``document`` breaks Zendesk's schema ``name``: its custom formats checked as
    the schemas' README defines them, its draft-04 type names ``any`` and ``time`` admitted."""
    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
    registry = Registry().with_resources(
        (n, Resource.from_contents(s, default_specification=DRAFT4)) for n, s in schemas.items())
    checker = jsonschema.Draft4Validator.TYPE_CHECKER.redefine_many(
        {"any": lambda _, v: True, "time": lambda _, v: isinstance(v, str)})
    formats = jsonschema.FormatChecker()
    formats.checks("https-url")(_https_url)
    formats.checks("external-id")(_external_id)
    validator = jsonschema.validators.extend(jsonschema.Draft4Validator, type_checker=checker)(
        {"$ref": name}, registry=registry, format_checker=formats)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def resource(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(external_id="x-support:x:post:1790", message="my order never arrived",
                                  thread_id="x-support:x:conv:1790:4411", created_at=WHEN, author=AUTHOR,
                                  fields={"subject": "X mention from @carol", "priority": "high", "type": "question",
                                          "tags": ["socialdesk", "social"], "360001": "https://x.com/carol/1790"},
                                  display={"network": "x", "url": "https://x.com/carol/1790"})
    values.update(overrides)
    return external_resource(**values)


def test_the_manifest_holds_zendesks_schema_and_its_urls_are_https() -> None:
    body = manifest(name="socialdesk", integration_id="https://socialdesk.example/channel-integration", version="0.1.0",
                    author="socialdesk", urls=URLS, push_client_id="socialdesk")
    assert errors("manifest.json", body) == []
    # The check itself can fail: an http URL and a missing admin_ui are caught.
    assert errors("manifest.json", {**body, "urls": {**URLS, "admin_ui": "http://a.example/x"}})
    assert errors("manifest.json", {**body, "urls": {"pull_url": URLS["pull_url"]}})
    assert errors("external_resource.json", {"external_id": " x", "message": "m"})
    assert body["push_client_id"] == "socialdesk" and body["create_followup_tickets"] is True
    with pytest.raises(FatalError, match="https"):
        manifest(name="s", integration_id="i", version="1", author="a", push_client_id=None,
                 urls={**URLS, "pull_url": "http://127.0.0.1:8080/channel/pull"})


def test_a_resource_holds_zendesks_schema() -> None:
    body = resource()
    assert errors("external_resource.json", body) == []
    assert body["created_at"] == "2026-12-07T09:30:05Z"
    assert body["author"] == {"external_id": "x:4411", "name": "Carol C"}
    assert body["thread_id"] == "x-support:x:conv:1790:4411" and "parent_id" not in body
    fields = {f["id"]: f["value"] for f in body["fields"]}
    assert fields == {"subject": "X mention from @carol", "priority": "high", "type": "question",
                      "tags": ["socialdesk", "social"], 360001: "https://x.com/carol/1790"}
    assert body["display_info"][0]["data"]["network"] == "x"
    assert errors("push_parameters.json", {"instance_push_id": "abc", "external_resources": [body]}) == []


def test_a_resource_is_cut_to_zendesks_limits_and_never_empty() -> None:
    long = resource(message="x" * (MAX_MESSAGE + 10), author=Author(network="x", id="1", handle="h"))
    assert len(long["message"]) == MAX_MESSAGE and long["author"]["name"] == "@h"
    assert errors("external_resource.json", long) == []
    assert resource(message="   ")["message"] == "(no text)"
    with pytest.raises(ValueError, match="ASCII"):
        resource(external_id="x-support:x:post:é")
    with pytest.raises(ValueError):
        resource(thread_id="t" * 256)


def test_pull_and_channelback_answers_hold_zendesks_schemas() -> None:
    payload = pull_payload([resource(), resource(external_id="x-support:x:post:1791")], '{"after": 7}')
    assert errors("pull_payload.json", payload) == []
    assert errors("pull_payload.json", pull_payload([], '{"after": 0}')) == []
    with pytest.raises(ValueError, match="256"):
        pull_payload([resource()] * 257, "{}")
    assert errors("channelback_payload.json", channelback_payload("x-support:x:post:1800")) == []
    assert errors("channelback_payload_v2.json", channelback_payload("x-support:x:post:1800")) == []


def test_what_the_admin_ui_is_posted_is_read_and_the_token_never_shows() -> None:
    form = {"subdomain": "acme", "return_url": "https://acme.zendesk.com/zendesk/channels/x/editor_finalizer",
            "instance_push_id": "4c9e", "zendesk_access_token": "t0ken-value", "locale": "en-US", "name": "",
            "metadata": "", "state": ""}
    admin = read_admin(form)
    assert (admin.subdomain, admin.instance_push_id, admin.locale) == ("acme", "4c9e", "en-US")
    assert admin.name is None and admin.metadata is None
    assert isinstance(admin.push_token, Secret) and admin.push_token.reveal() == "t0ken-value"
    assert "t0ken-value" not in repr(admin)
    with pytest.raises(ValueError, match="return_url is required"):
        read_admin({"subdomain": "acme"})
    with pytest.raises(ValueError, match="absolute URL"):
        read_admin({**form, "return_url": "/relative"})
    with pytest.raises(ValueError, match="subdomain is required"):
        read_admin({**form, "subdomain": ""})


def test_pulls_channelbacks_and_events_are_read_or_refused_with_the_reason() -> None:
    assert read_pull({"metadata": "m", "state": ""}) == ("m", None)
    with pytest.raises(ValueError, match="metadata is required"):
        read_pull({"state": "{}"})
    with pytest.raises(ValueError, match="longer than 5000"):
        read_pull({"metadata": "m" * 5001})
    back = read_channelback({"message": "hi", "parent_id": "p", "metadata": "m", "request_unique_identifier": "r"},
                            ["https://acme.zendesk.com/attachments/1"])
    assert (back.message, back.parent_id, back.thread_id, back.request_key) == ("hi", "p", None, "r")
    assert back.file_urls == ("https://acme.zendesk.com/attachments/1",)
    with pytest.raises(ValueError, match="message is required"):
        read_channelback({"metadata": "m"})
    event = {"type_id": "resources_created_from_external_ids", "timestamp": "2026-12-07T09:30:05Z",
             "subdomain": "acme", "integration_name": "socialdesk", "integration_id": "i",
             "data": {"request_id": "r", "resource_events": []}}
    assert errors("event_callback_any.json", event) == []
    [read] = read_events(json.dumps({"events": [event]}).encode())
    assert (read.type_id, read.subdomain, read.data["request_id"]) == ("resources_created_from_external_ids", "acme",
                                                                       "r")
    for body, why in ((b"not json", "not JSON"), (b'{"event": []}', "events"),
                      (json.dumps({"events": [{"type_id": "x"}]}).encode(), "lacks"),
                      (json.dumps({"events": [{**event, "type_id": "made_up"}]}).encode(), "unknown type_id")):
        with pytest.raises(ValueError, match=why):
            read_events(body)


def test_a_ticket_is_split_into_what_a_resource_sets_and_what_rest_sets_after() -> None:
    ticket = NewTicket(external_id="x:post:1", subject="S", body="b", requester_id="x:1", tags=("socialdesk", "vip"),
                       priority="urgent", group_id=12, brand_id=None, ticket_form_id=7, type="incident",
                       custom_fields={"360001": "v"})
    fields, after = split_settings(ticket)
    assert fields == {"subject": "S", "priority": "urgent", "type": "incident", "tags": ["socialdesk", "vip"],
                      "360001": "v"}
    assert after == {"group_id": 12, "ticket_form_id": 7}


def test_thread_references_fit_the_engines_ticket_ids() -> None:
    assert thread_ref("x-support:x:conv:1:2") == "x-support:x:conv:1:2"
    long = "route-" + "a" * 100 + ":x:conv:1:2"
    assert len(thread_ref(long)) <= 64 and thread_ref(long) == thread_ref(long) != thread_ref(long + "3")
    assert resource_id("x-support", "x:dm:77") == "x-support:x:dm:77"


@pytest.mark.parametrize("value, seconds", [(None, None), ("", None), (3, 3.0), ("2.5", 2.5), ("4s", 4.0), (0, 0.0)])
def test_a_mappings_push_wait_is_read_in_seconds(value: Any, seconds: float | None) -> None:
    assert read_push_wait(value) == seconds


@pytest.mark.parametrize("value, says", [("soon", "expected seconds"), (-1, "0 to 120"), ("10m", "expected seconds"),
                                         (600, "0 to 120"), ("nan", "0 to 120")])
def test_a_push_wait_that_is_not_0_to_120_seconds_says_what_is_allowed(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says) as err:
        read_push_wait(value)
    assert str(err.value).startswith("push_wait ")
