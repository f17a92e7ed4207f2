"""Data routes: versions, describe, records, upsert by external id, SOQL, updated/deleted."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from sandbox.common import from_agent_ui
from sandbox.salesforce.catalog import CATALOG
from sandbox.salesforce.constants import CREATED_FLAG_VERSION, MAX_VERSION, MIN_VERSION
from sandbox.salesforce.describe import _describe, _global_entry, _limits, _page_size
from sandbox.salesforce.errors import not_found, sf_error, SfError
from sandbox.salesforce.ids import parse_datetime, release_label, sf_time
from sandbox.salesforce.soql import Soql
from sandbox.salesforce.soql_parse import Parser, soql_error, SoqlError
from sandbox.salesforce.wire import _body, _json, _route, _version

if TYPE_CHECKING:
    from sandbox.salesforce.catalog import ObjectView
    from sandbox.salesforce.model import SalesforceState


def _assign_header() -> str | None:
    """The request's Sforce-Auto-Assign header (absent means TRUE); an agent's edit in the
    UI leaves "Assign using active assignment rule" unticked, so it never reassigns."""
    return "FALSE" if from_agent_ui() else request.headers.get("Sforce-Auto-Assign")


def _install_data(app: Flask, state: SalesforceState) -> None:
    D = "/services/data/<ver>"
    route = lambda rule, methods: _route(app, state, rule, methods)  # noqa: E731

    @route("/services/data", ["GET"])
    def versions() -> Response:
        return _json([{"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                      for v in range(MIN_VERSION, MAX_VERSION + 1)])

    @route(D, ["GET"])
    def resources(ver: str) -> Response:
        base = f"/services/data/{ver}"
        names = ("tooling", "metadata", "eclair", "folders", "prechatForms", "connect", "chatter", "tabs",
                 "appMenu", "quickActions", "queryAll", "commerce", "wave", "iot", "analytics", "search",
                 "composite", "parameterizedSearch", "fingerprint", "theme", "nouns", "domino", "event",
                 "serviceTemplates", "recent", "licensing", "limits", "process", "async-queries", "query",
                 "match", "emailConnect", "compactLayouts", "knowledgeManagement", "sobjects", "actions",
                 "support")
        body = {name: f"{base}/{name}" for name in names}
        body["identity"] = f"{state.base_url}/id/{state.org_id}/{g.user}"
        return _json(body)

    @route(D + "/sobjects", ["GET"])
    def global_describe(ver: str) -> Response:
        version = _version(ver)
        views = [v for n in sorted(CATALOG) if (v := state.view(n)) is not None]
        entries = [_global_entry(state, v, version) for v in views]
        return _json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": entries})

    def view_for(sobject: str) -> ObjectView:
        view = state.view_ci(sobject)
        if view is None:
            raise not_found()
        return view

    @route(D + "/sobjects/<sobject>", ["GET", "POST"])
    def sobject_root(ver: str, sobject: str) -> Response:
        view = view_for(sobject)
        if request.method == "GET":
            return _json({"objectDescribe": _global_entry(state, view, _version(ver)), "recentItems": []})
        new_id = state.insert(view.name, _body(), g.user, request.headers.get("Sforce-Auto-Assign"))
        return _json({"id": new_id, "success": True, "errors": []}, 201)

    @route(D + "/sobjects/<sobject>/describe", ["GET"])
    def describe(ver: str, sobject: str) -> Response:
        return _json(_describe(state, view_for(sobject), _version(ver)))

    def window() -> tuple[float, float]:
        start = parse_datetime(request.args.get("start", ""))
        end = parse_datetime(request.args.get("end", ""))
        if start is None or end is None:
            raise sf_error(400, "MALFORMED_QUERY", "start and end must be valid dateTime values")
        if end - start < 60:
            raise sf_error(400, "INVALID_REPLICATION_DATE",
                           "startDate must chronologically precede endDate by more than one minute")
        now = state.clock.now()
        covered = min(end, now)
        return start, covered - covered % 60

    @route(D + "/sobjects/<sobject>/updated", ["GET"])
    def get_updated(ver: str, sobject: str) -> Response:
        view = view_for(sobject)
        start, covered = window()
        ids = [r["Id"] for r in state.records[view.name].values() if not r.get("IsDeleted")
               and start <= (parse_datetime(r.get("SystemModstamp") or "") or 0) < covered]
        return _json({"ids": ids, "latestDateCovered": sf_time(covered)})

    @route(D + "/sobjects/<sobject>/deleted", ["GET"])
    def get_deleted(ver: str, sobject: str) -> Response:
        view = view_for(sobject)
        start, covered = window()
        gone = [r for r in state.records[view.name].values() if r.get("IsDeleted")]
        deleted = [{"id": r["Id"], "deletedDate": r["_deleted_at"]} for r in gone
                   if start <= (parse_datetime(r.get("_deleted_at") or "") or 0) < covered]
        earliest = min((parse_datetime(r["_deleted_at"]) or covered for r in gone), default=covered)
        return _json({"deletedRecords": deleted, "earliestDateAvailable": sf_time(earliest - earliest % 60),
                      "latestDateCovered": sf_time(covered)})

    @route(D + "/sobjects/<sobject>/<rid>", ["GET", "PATCH", "DELETE"])
    def one_record(ver: str, sobject: str, rid: str) -> Response:
        view = view_for(sobject)
        if request.method == "GET":
            rec = state.live(view.name, rid)
            fields = request.args.get("fields")
            only = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
            for name in only or []:
                if view.field(name) is None:
                    raise sf_error(400, "INVALID_FIELD",
                                   f"No such column '{name}' on sobject of type {view.name}")
            return _json(state.render(view.name, rec, _version(ver), only))
        if request.method == "PATCH":
            state.update(view.name, rid, _body(), g.user, _assign_header())
            return _json(None, 204)
        state.delete(view.name, rid, g.user)
        return _json(None, 204)

    @route(D + "/sobjects/<sobject>/<ext>/<path:value>", ["GET", "PATCH", "DELETE"])
    def by_external_id(ver: str, sobject: str, ext: str, value: str) -> Response:
        view = view_for(sobject)
        version = _version(ver)
        if request.method == "PATCH":
            update_only = request.args.get("updateOnly", "").lower() == "true"
            rid, created = state.upsert(view.name, ext, value, _body(), g.user,
                                        _assign_header(), version, update_only)
            major = int(float(version))
            body: dict[str, Any] = {"id": rid, "success": True, "errors": []}
            if major >= CREATED_FLAG_VERSION:
                body["created"] = created
            if created:
                return _json(body, 201)
            return _json(body, 200) if major >= CREATED_FLAG_VERSION else _json(None, 204)
        f = view.field(ext)
        if f is None or not (f["externalId"] or f["idLookup"]):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {ext}")
        matches = state.find_by(view, f, value)
        if len(matches) > 1:
            raise SfError(300, [f"/services/data/v{version}/sobjects/{view.name}/{m['Id']}" for m in matches])
        if not matches:
            raise not_found()
        if request.method == "DELETE":
            state.delete(view.name, matches[0]["Id"], g.user)
            return _json(None, 204)
        return _json(state.render(view.name, matches[0], version))

    def run_query(ver: str, include_deleted: bool) -> Response:
        text = request.args.get("q")
        if not text:
            raise sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        version = _version(ver)
        engine = Soql(state)
        try:
            query = Parser(text).parse()
            engine.bind(query)
            rows, total = engine.select(query, include_deleted)
        except SoqlError as err:
            raise soql_error(text, err) from None
        if query.count:
            return _json({"totalSize": total, "done": True, "records": []})
        rendered = [engine.render(query, r, version) for r in rows]
        size = _page_size(state)
        if len(rendered) <= size:
            return _json({"totalSize": total, "done": True, "records": rendered})
        locator = state.store_locator(rendered, total)
        return _json({"totalSize": total, "done": False,
                      "nextRecordsUrl": f"/services/data/v{version}/query/{locator}-{size}",
                      "records": rendered[:size]})

    def query_more(ver: str, token: str) -> Response:
        locator, _, offset = token.rpartition("-")
        entry = state.locators.get(locator)
        if entry is None or not offset.isdigit() or int(offset) > len(entry["rows"]):
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        entry["used"] = state.clock.now()
        start, size = int(offset), _page_size(state)
        rows = entry["rows"][start:start + size]
        body: dict[str, Any] = {"totalSize": entry["total"], "done": start + size >= len(entry["rows"])}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/{ver}/query/{locator}-{start + size}"
        body["records"] = rows
        return _json(body)

    @route(D + "/query", ["GET"])
    def query(ver: str) -> Response:
        return run_query(ver, False)

    @route(D + "/queryAll", ["GET"])
    def query_all(ver: str) -> Response:
        return run_query(ver, True)

    @route(D + "/query/<token>", ["GET"])
    def query_next(ver: str, token: str) -> Response:
        return query_more(ver, token)

    @route(D + "/queryAll/<token>", ["GET"])
    def query_all_next(ver: str, token: str) -> Response:
        return query_more(ver, token)

    @route(D + "/limits", ["GET"])
    def limits(ver: str) -> Response:
        return _json(_limits(state))
