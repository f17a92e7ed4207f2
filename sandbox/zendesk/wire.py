"""Responses, request bodies and pagination in Zendesk's shapes, shared by the routes."""
from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import urlencode

from flask import Response, g, request

from sandbox.common import error_response
from sandbox.zendesk.constants import BULK_MAX, JSON_CT, PAGE_MAX
from sandbox.zendesk.helpers import _b64, _cursor_token, _unb64, ApiError, bad_request
from sandbox.zendesk.records import Job, UpdateContext

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None,
          content_type: str = JSON_CT) -> Response:
    data = b"" if body is None else json.dumps(body).encode()
    response = Response(data, status=status, content_type=content_type)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _error_response(err: ApiError) -> Response:
    return error_response(err, _json)


def _body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise bad_request("InvalidJSON", f"The request body is not valid JSON: {err}") from err


def _payload(key: str) -> Mapping[str, Any]:
    """The body's ``key`` object (``{"user": {...}}``); a 400 ParameterMissing when it is not one."""
    body = _body()
    spec = body.get(key) if isinstance(body, Mapping) else None
    if not isinstance(spec, Mapping):
        raise bad_request("ParameterMissing", f"param is missing or the value is empty: {key}")
    return spec


def _unpaged(key: str, items: list[Any]) -> dict[str, Any]:
    """The offset list envelope of a list served whole, in one page."""
    return {key: items, "next_page": None, "previous_page": None, "count": len(items)}


def _original_path() -> str:
    return str(request.environ.get("sandbox.original_path", request.path))


def _page_url(state: ZendeskState, params: Mapping[str, Any]) -> str:
    query = urlencode([(k, v) for k, v in params.items() if v is not None])
    return f"{state.base_url}{_original_path()}" + (f"?{query}" if query else "")


def _page_size() -> int:
    raw = request.args.get("page[size]", "100")
    try:
        size = int(raw)
    except ValueError as err:
        raise bad_request("InvalidPaginationParameter", "page[size] must be an integer") from err
    if size < 1 or size > PAGE_MAX:
        raise bad_request("InvalidPaginationParameter", f"page[size] must be between 1 and {PAGE_MAX}")
    return size


def paginate(state: ZendeskState, key: str, items: list[Any], sort_key: Callable[[Any], Any],
             render: Callable[[Any], Any], offset_default: bool = True) -> dict[str, Any]:
    """Zendesk list envelope: cursor (``page[size]``/``page[after]``) or offset (``page``)."""
    args = request.args
    items = sorted(items, key=sort_key)
    if any(k.startswith("page[") for k in args) or not offset_default:
        size = _page_size()
        keys = [json.loads(json.dumps(sort_key(i))) for i in items]
        if args.get("page[after]"):
            after = json.loads(_unb64(args["page[after]"]))["v"]
            start = next((n for n, k in enumerate(keys) if k > after), len(items))
            chunk = items[start:start + size]
            has_more = start + size < len(items)
        elif args.get("page[before]"):
            before = json.loads(_unb64(args["page[before]"]))["v"]
            stop = next((n for n, k in enumerate(keys) if k >= before), len(items))
            start = max(0, stop - size)
            chunk = items[start:stop]
            has_more = start > 0
        else:
            chunk = items[:size]
            has_more = len(items) > size
        first = _cursor_token(sort_key(chunk[0])) if chunk else None
        last = _cursor_token(sort_key(chunk[-1])) if chunk else None
        keep = {k: v for k, v in args.items() if k not in ("page[after]", "page[before]")}
        keep["page[size]"] = str(size)
        return {key: [render(i) for i in chunk],
                "meta": {"has_more": has_more, "after_cursor": last, "before_cursor": first},
                "links": {"prev": _page_url(state, {**keep, "page[before]": first}) if first else None,
                          "next": _page_url(state, {**keep, "page[after]": last}) if last else None}}
    try:
        page = max(1, int(args.get("page", "1")))
        per_page = min(PAGE_MAX, max(1, int(args.get("per_page", "100"))))
    except ValueError as err:
        raise bad_request("InvalidPaginationParameter", "page and per_page must be integers") from err
    chunk = items[(page - 1) * per_page: page * per_page]
    keep = {k: v for k, v in args.items() if k not in ("page",)}
    more = page * per_page < len(items)
    return {key: [render(i) for i in chunk],
            "next_page": _page_url(state, {**keep, "page": page + 1}) if more else None,
            "previous_page": _page_url(state, {**keep, "page": page - 1}) if page > 1 else None,
            "count": len(items)}


def webhook_paginate(state: ZendeskState, key: str, items: list[Any], ident: Callable[[Any], str],
                     render: Callable[[Any], Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The webhooks service's own cursor style (recorded): cursors present only when usable."""
    size = _page_size()
    ids = [ident(i) for i in items]
    args = request.args
    if args.get("page[after]"):
        after = _unb64(args["page[after]"]).split(",")[0]
        start = ids.index(after) + 1 if after in ids else len(ids)
        stop = start + size
    elif args.get("page[before]"):
        before = _unb64(args["page[before]"]).split(",")[0]
        stop = ids.index(before) if before in ids else 0
        start = max(0, stop - size)
    else:
        start, stop = 0, size
    chunk = items[start:stop]
    meta: dict[str, Any] = {"has_more": stop < len(items)}
    links: dict[str, str] = {}
    link_header = []
    if start > 0 and chunk:
        meta["before_cursor"] = _b64(f"{ident(chunk[0])},desc")
        links["prev"] = f"{state.base_url}{_original_path()}?page[before]={meta['before_cursor']}"
        link_header.append(f'<{links["prev"]}>; rel="prev"')
    if meta["has_more"] and chunk:
        meta["after_cursor"] = _b64(f"{ident(chunk[-1])},desc")
        links["next"] = f"{state.base_url}{_original_path()}?page[after]={meta['after_cursor']}"
        link_header.append(f'<{links["next"]}>; rel="next"')
    headers = {"link": ", ".join(link_header)} if link_header else {}
    return {"meta": meta, "links": links, key: [render(i) for i in chunk]}, headers


def _ctx(state: ZendeskState) -> UpdateContext:
    return UpdateContext(actor=g.user, client={"client": request.headers.get("User-Agent", ""),
                                               "ip": request.remote_addr or ""})


TICKET_KEYS = frozenset({
    "external_id", "requester_id", "requester", "assignee_id", "assignee_email", "group_id",
    "organization_id", "priority", "status", "type", "tags", "custom_fields", "fields",
    "custom_status_id", "due_at", "subject", "raw_subject", "comment", "description", "email_ccs",
    "followers", "problem_id", "sharing_agreement_ids", "attribute_value_ids", "brand_id",
    "collaborators", "collaborator_ids", "email_cc_ids", "follower_ids", "macro_ids", "recipient",
    "submitter_id", "ticket_form_id", "via", "via_followup_source_id", "metadata", "safe_update",
    "updated_stamp", "additional_tags", "remove_tags", "macro_id", "voice_comment"})


def _api_warn(controller: str, action: str, payload: Any, key: str,
              allowed: frozenset[str]) -> dict[str, str]:
    if not isinstance(payload, Mapping):
        return {}
    unknown = [f"{key}.{k}" for k in payload if k not in allowed]
    if not unknown:
        return {}
    keys = ", ".join(f'"{k}"' for k in unknown)
    warning = (f'{{:allowed_parameters=>{{:controller=>"{controller}", :action=>"{action}", '
               f":unpermitted_keys=>[{keys}], :invalid_values=>[]}}}}")
    return {"x-zendesk-api-warn": warning}


def _ids_arg(name: str = "ids") -> list[int]:
    raw = request.args.get(name, "")
    out = []
    for part in raw.split(","):
        part = part.strip()
        if part:
            try:
                out.append(int(part))
            except ValueError as err:
                raise bad_request("InvalidValue", f"{name} must be a comma-separated list of ids") from err
    return out


def _queue_job(state: ZendeskState, kind: str, items: list[Any]) -> Response:
    """Queue a bulk job (tickets or users), within the in-flight job limit."""
    if len(items) > BULK_MAX:
        raise ApiError(400, {"error": "TooManyValues",
                             "description": "Parameter  cannot specify more than 100 values",
                             "max_count": BULK_MAX})
    with state.lock:
        inflight = sum(1 for j in state.jobs.values() if j.status in ("queued", "working"))
        total = state.max_inflight_jobs
        left = max(0, total - inflight - 1)
        jobs_header = {"zendesk-ratelimit-inflight-jobs": f"total={total}; remaining={left}; resets=60"}
        if inflight >= total:
            raise ApiError(429, {"error": "TooManyJobs",
                                 "description": f"Number of allowed queued or running jobs "
                                                f"({total}) exceeded"},
                           {**jobs_header, "Retry-After": "60"})
        job = Job(id=f"V3-{secrets.token_hex(16)}", kind=kind, items=items, actor_id=g.user["id"],
                  client=_ctx(state).client, created=state.clock.now(),
                  hold_reads=state.job_hold_reads, hold_until=state.clock.now() + state.job_hold_seconds)
        state.jobs[job.id] = job
        return _json({"job_status": state.job_json(job)}, headers=jobs_header)
