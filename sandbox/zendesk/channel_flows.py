"""What Zendesk does toward an integration service, step by step, with the account's lock
held only between the calls: install from the manifest URL, open the admin UI (and, for
a test or a demo, fill it in as the admin's browser would), pull, channelback, event
callbacks, clickthrough; and ``ChannelRunner``, the threads that pull on the schedule and
make the calls a write queued.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urljoin

from sandbox.zendesk.channel_records import PULL_SECONDS
from sandbox.zendesk.channel_validate import is_https_url, validate
from sandbox.zendesk.channel_wire import first_form, same_endpoint, send, with_query
from sandbox.zendesk.helpers import ApiError

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState

log = logging.getLogger("sandbox.zendesk.channels")

# "If Zendesk needs to remake the request due to network errors, it will include the same
# request_unique_identifier" (channelback docs); how often and how soon is not documented.
CHANNELBACK_RETRY_DELAYS = (1.0, 2.0)
ADMIN_UI_HOPS = 4
SCHEDULE_TICK = 0.1  # wall seconds between looks at the sandbox clock for due pulls


def _refused(status: int, error: str, description: str, **extra: Any) -> ApiError:
    return ApiError(status, {"error": error, "description": description, **extra})


def _absolute(manifest: Any, manifest_url: str) -> Any:
    """The manifest with its ``urls`` made absolute against the manifest URL (the Channel
    framework tutorial's manifest names them relatively: ``./pull``)."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("urls"), dict):
        return manifest
    urls = {k: urljoin(manifest_url, v) if isinstance(v, str) else v for k, v in manifest["urls"].items()}
    return {**manifest, "urls": urls}


def install(state: ZendeskState, manifest_url: Any) -> int:
    """Read the manifest over HTTPS, hold it to manifest.json, install it; the integration id."""
    if not isinstance(manifest_url, str) or not is_https_url(manifest_url, state.channel_plain_http):
        raise _refused(400, "InvalidValue", "manifest_url must be an https URL")
    answer = send("GET", manifest_url)
    if answer.status != 200:
        raise _refused(422, "InvalidManifest", f"the manifest could not be read: {answer.describe()}")
    try:
        manifest = _absolute(answer.json(), manifest_url)
    except ValueError as err:
        raise _refused(422, "InvalidManifest", "the manifest is not JSON") from err
    errors = validate("manifest.json", manifest, plain_loopback=state.channel_plain_http)
    if errors:
        raise _refused(422, "InvalidManifest", "the manifest does not match manifest.json", details=errors)
    with state.lock:
        integ, _ = state.add_channel_integration(manifest_url, manifest)
        return integ.id


def open_admin_ui(state: ZendeskState, target: Any, locale: str = "en-US",
                  form: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The admin adds an account (``target`` an integration id) or edits one (an instance
    id): Zendesk POSTs the admin UI into its iframe. With ``form``, the admin's browser
    goes on: the values typed into the page's form, the form submitted, and forms
    submitted on until one posts to ``return_url`` (Zendesk then makes the account)."""
    with state.lock:
        integ, inst = state.channel_target(target)
        setup, fields = state.open_channel_setup(integ, inst, locale)
        admin_ui = integ.urls["admin_ui"]
    answer = send("POST", admin_ui, form=fields)
    out: dict[str, Any] = {
        "return_url": state.channel_return_url,
        "admin_ui": {"url": admin_ui, "status": answer.status,
                     "content_type": answer.headers.get("content-type"), "body": answer.text,
                     "error": answer.error}}
    if form is None:
        return out
    typed = {str(k): "" if v is None else str(v) for k, v in form.items()}
    page, page_url, hops = answer, admin_ui, 0
    while True:
        if page.status != 200:
            raise _refused(502, "AdminUiFailed", f"{page_url} answered {page.describe()}")
        found = first_form(page.text, page_url)
        if found is None:
            raise _refused(502, "AdminUiFailed", f"{page_url} shows no form to submit")
        values = found.filled(typed) if hops == 0 else found.fields
        if same_endpoint(found.action, state.channel_return_url):
            with state.lock:
                try:
                    made = state.finish_channel_setup(setup, dict(values))
                except ValueError as err:
                    raise _refused(422, "InvalidValue", str(err)) from err
                out["instance_id"] = made.id
            return out
        hops += 1
        if hops > ADMIN_UI_HOPS:
            raise _refused(502, "AdminUiFailed", "the admin UI never posted back to return_url")
        if found.method == "POST":
            page = send("POST", found.action, form=values)
        else:
            page = send("GET", with_query(found.action, values))
        page_url = found.action


def pull(state: ZendeskState, target: Any, trigger: str = "control", wait: bool = True) -> dict[str, Any] | None:
    """One pull of an account: POST ``metadata`` and ``state`` to ``pull_url`` (pull docs)
    and apply the answer. None when skipped: a pull of the account already under way
    (``wait`` False), the account deleted or the sandbox reset meanwhile."""
    with state.lock:
        inst = state.channel_instance(target)
        url = state.channel_integrations[inst.integration_id].urls.get("pull_url")
        if inst.status != "active":
            raise _refused(409, "InstanceDestroyed", "the account was deleted")
        if not url:
            raise _refused(409, "NoPullUrl", "the integration's manifest names no pull_url")
    if not inst.pulling.acquire(blocking=wait):
        return None
    try:
        with state.lock:
            if inst.status != "active":
                return None
            generation, started = state.generation, state.clock.now()
            inst.next_pull_at = started + PULL_SECONDS
            sent_state, metadata = inst.state, inst.metadata
        request_id = str(uuid.uuid4())
        answer = send("POST", url, form=[("metadata", metadata), ("state", sent_state)])
        with state.lock:
            if generation != state.generation or inst.status != "active":
                return None
            return state.finish_channel_pull(inst, request_id, trigger, started, sent_state, answer)
    finally:
        inst.pulling.release()


def send_channelback(state: ZendeskState, inst_id: int, rid: str, generation: int) -> None:
    """Deliver one queued channelback; a request that got no answer is made again with the
    same ``request_unique_identifier``."""
    with state.lock:
        if generation != state.generation:
            return
        prepared = state.channelback_request(inst_id, rid)
    if prepared is None:
        return
    url, fields = prepared
    attempt = 0
    while True:
        answer = send("POST", url, form=fields)
        final = answer.status is not None or attempt >= len(CHANNELBACK_RETRY_DELAYS)
        with state.lock:
            if generation != state.generation:
                return
            state.channelback_attempted(inst_id, rid, answer, final)
        if final:
            return
        time.sleep(CHANNELBACK_RETRY_DELAYS[attempt])
        attempt += 1


def send_events(state: ZendeskState, integ_id: int, generation: int) -> None:
    """Everything queued for one integration's ``event_callback_url`` in one request:
    ``{"events": [...]}`` (event callback docs)."""
    with state.lock:
        if generation != state.generation:
            return
        taken = state.take_channel_events(integ_id)
    if taken is None:
        return
    url, batch = taken
    answer = send("POST", url, json_body={"events": [event for _, event in batch]})
    with state.lock:
        if generation == state.generation:
            state.channel_events_sent(integ_id, batch, answer)


def clickthrough(state: ZendeskState, target: Any, external_id: str) -> dict[str, Any]:
    """An agent clicks a comment's link: Zendesk opens ``clickthrough_url`` with the
    ``external_id`` and nothing else (no metadata: Channel framework tutorial)."""
    with state.lock:
        inst = state.channel_instance(target)
        url = state.channel_integrations[inst.integration_id].urls.get("clickthrough_url")
    if not url:
        raise _refused(409, "NoClickthroughUrl", "the integration's manifest names no clickthrough_url")
    answer = send("GET", with_query(url, [("external_id", external_id)]))
    return {"url": with_query(url, [("external_id", external_id)]), "status": answer.status,
            "location": answer.headers.get("location"), "error": answer.error}


class ChannelRunner:
    """An account's two daemon threads for the framework: one makes the queued calls
    (channelbacks, event callbacks) in order, one pulls each account when its time comes
    on the sandbox clock. Both start on first need (the pulling one ends when no account
    pulls any more); work queued before a reset is dropped."""

    def __init__(self, state: ZendeskState) -> None:
        self.state = state
        self.queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def _ensure(self, name: str, target: Any) -> None:
        with self._lock:
            thread = self._threads.get(name)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=target, name=f"sandbox-zendesk-channel-{name}", daemon=True)
                self._threads[name] = thread
                thread.start()

    def channelback(self, inst_id: int, rid: str, generation: int) -> None:
        self._ensure("calls", self._calls)
        self.queue.put(("channelback", inst_id, rid, generation))

    def events(self, integ_id: int, generation: int) -> None:
        self._ensure("calls", self._calls)
        self.queue.put(("events", integ_id, generation))

    def watch_pulls(self) -> None:
        self._ensure("pulls", self._pulls)

    def _calls(self) -> None:
        while True:
            job = self.queue.get()
            try:
                if job[0] == "channelback":
                    send_channelback(self.state, job[1], job[2], job[3])
                else:
                    send_events(self.state, job[1], job[2])
            except Exception:  # noqa: BLE001 - a bug in one call must not end the thread
                log.exception("channel framework call %s failed", job[0])

    def _pulls(self) -> None:
        while True:
            time.sleep(SCHEDULE_TICK)
            with self.state.lock:
                due = self.state.due_channel_pulls()
                if due is None:  # no account pulls any more (deleted, or a reset): stop watching
                    with self._lock:
                        self._threads.pop("pulls", None)
                    return
            for inst_id in due:
                try:
                    pull(self.state, inst_id, trigger="schedule", wait=False)
                except ApiError:
                    continue
                except Exception:  # noqa: BLE001 - as above
                    log.exception("scheduled channel pull failed")
