"""Describe rendering (urls, global describe, sObject describe), the limits body, and the
query page size a request asks for.
"""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from flask import request

from sandbox.salesforce.constants import MASTER_RECORD_TYPE, QUERY_PAGE

if TYPE_CHECKING:
    from sandbox.salesforce.catalog import ObjectView
    from sandbox.salesforce.model import SalesforceState


def _urls(state: SalesforceState, view: ObjectView, version: str, full: bool) -> dict[str, str]:
    base, name = f"/services/data/v{version}/sobjects/{view.name}", view.name
    urls = {"rowTemplate": f"{base}/{{ID}}", "approvalLayouts": f"{base}/describe/approvalLayouts",
            "uiDetailTemplate": f"{state.base_url}/{{ID}}", "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts", "compactLayouts": f"{base}/describe/compactLayouts",
            "uiEditTemplate": f"{state.base_url}/{{ID}}/e"}
    if name == "Case":
        urls["caseArticleSuggestions"] = f"{base}/suggestedArticles"
        urls["caseRowArticleSuggestions"] = f"{base}/{{ID}}/suggestedArticles"
    urls.update({"defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                 "listviews": f"{base}/listviews", "describe": f"{base}/describe", "sobject": base,
                 "uiNewRecord": f"{state.base_url}/{view.kind.prefix}/e"})
    if not full:
        for key in ("uiDetailTemplate", "uiEditTemplate", "uiNewRecord", "caseArticleSuggestions",
                    "caseRowArticleSuggestions", "listviews"):
            urls.pop(key, None)
    return urls


def _global_entry(state: SalesforceState, view: ObjectView, version: str) -> dict[str, Any]:
    k = view.kind
    return {
        "activateable": False, "associateEntityType": None, "associateParentEntity": None,
        "createable": k.createable, "custom": False, "customSetting": False, "deepCloneable": False,
        "deletable": k.deletable, "deprecatedAndHidden": False, "feedEnabled": k.feed, "hasSubtypes": False,
        "isInterface": False, "isSubtype": False, "keyPrefix": k.prefix, "label": k.label,
        "labelPlural": k.plural, "layoutable": k.layoutable, "mergeable": k.name in ("Account", "Contact"),
        "mruEnabled": k.layoutable, "name": k.name, "queryable": True, "replicateable": True,
        "retrieveable": True, "searchable": k.searchable, "triggerable": k.createable,
        "undeletable": k.deletable, "updateable": k.updateable,
        "urls": _urls(state, view, version, full=False)}


def _describe(state: SalesforceState, view: ObjectView, version: str) -> dict[str, Any]:
    k = view.kind
    layout = f"/services/data/v{version}/sobjects/{k.name}/describe/layouts/"
    record_types = [{"active": True, "available": True, "defaultRecordTypeMapping": True,
                     "developerName": "Master", "master": True, "name": "Master",
                     "recordTypeId": MASTER_RECORD_TYPE, "urls": {"layout": layout + MASTER_RECORD_TYPE}}]
    for rt in state.records["RecordType"].values():
        if rt.get("SobjectType") == k.name and rt.get("IsActive"):
            record_types.insert(len(record_types) - 1, {
                "active": True, "available": True, "defaultRecordTypeMapping": False,
                "developerName": rt["DeveloperName"], "master": False, "name": rt["Name"],
                "recordTypeId": rt["Id"], "urls": {"layout": layout + rt["Id"]}})
    if k.name == "Case":
        scopes = [{"label": "All cases", "name": "everything"},
                  {"label": "My case teams cases", "name": "genericteam"},
                  {"label": "My cases", "name": "mine"},
                  {"label": "Queue owned cases", "name": "queue_owned"},
                  {"label": "My role-based team's cases", "name": "team_by_role"},
                  {"label": "User owned cases", "name": "user_owned"}]
    elif view.field("OwnerId") is not None:
        scopes = [{"label": f"All {k.plural.lower()}", "name": "everything"},
                  {"label": f"My {k.plural.lower()}", "name": "mine"}]
    else:
        scopes = [{"label": f"All {k.plural.lower()}", "name": "everything"}]
    children = [{"cascadeDelete": cascade, "childSObject": child, "deprecatedAndHidden": False,
                 "field": fname, "junctionIdListNames": [], "junctionReferenceTo": [],
                 "relationshipName": rel, "restrictedDelete": False}
                for child, fname, rel, cascade in k.children if rel is None or rel.lower() in view.children]
    return {
        "actionOverrides": [], "activateable": False, "childRelationships": children,
        "compactLayoutable": k.layoutable, "createable": k.createable, "custom": False,
        "customSetting": False, "deepCloneable": False, "defaultImplementation": None,
        "deletable": k.deletable,
        "deprecatedAndHidden": False, "extendedBy": None, "extendsInterfaces": None, "feedEnabled": k.feed,
        "fields": copy.deepcopy(view.fields), "hasSubtypes": False, "implementedBy": None,
        "implementsInterfaces": None, "isInterface": False, "isSubtype": False, "keyPrefix": k.prefix,
        "label": k.label, "labelPlural": k.plural, "layoutable": k.layoutable, "listviewable": None,
        "lookupLayoutable": None, "mergeable": k.name in ("Account", "Contact"), "mruEnabled": k.layoutable,
        "name": k.name, "namedLayoutInfos": [], "networkScopeFieldName": None, "queryable": True,
        "recordTypeInfos": record_types, "replicateable": True, "retrieveable": True,
        "searchLayoutable": k.searchable, "searchable": k.searchable, "supportedScopes": scopes,
        "triggerable": k.createable, "undeletable": k.deletable, "updateable": k.updateable,
        "urls": _urls(state, view, version, full=True)}


def _limits(state: SalesforceState) -> dict[str, Any]:
    used = state.api_used()
    static = {"DailyAsyncApexExecutions": 250000, "DailyBulkApiBatches": 15000,
              "DailyBulkV2QueryFileStorageMB": 976562, "DailyBulkV2QueryJobs": 10000,
              "DailyDurableStreamingApiEvents": 10000, "DailyStandardVolumePlatformEvents": 10000,
              "DailyStreamingApiEvents": 10000, "DailyWorkflowEmails": 405, "DataStorageMB": 5,
              "FileStorageMB": 20, "HourlyPublishedPlatformEvents": 50000, "HourlyTimeBasedWorkflow": 50,
              "MassEmail": 10, "SingleEmail": 15}
    out: dict[str, Any] = {"DailyApiRequests": {"Max": state.daily_limit,
                                                "Remaining": max(0, state.daily_limit - used)}}
    out.update({name: {"Max": value, "Remaining": value} for name, value in static.items()})
    return dict(sorted(out.items()))


def _page_size(state: SalesforceState) -> int:
    size = int(state.settings["query_page_size"])
    options = request.headers.get("Sforce-Query-Options", "")
    match = re.search(r"batchSize\s*=\s*(\d+)", options)
    if match:
        size = min(size, max(200, min(QUERY_PAGE, int(match.group(1)))))
    return size
