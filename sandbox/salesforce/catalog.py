"""The sObject catalog (``CATALOG``, key prefixes) and the per-org view of one object."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.fields import (
    _case_comment_fields,
    _case_fields,
    _contact_fields,
    _group_fields,
    _simple_object_fields,
    _user_fields,
)


@dataclass
class SObjectType:
    """Static description of one object: describe flags, fields, child relationships."""

    name: str
    prefix: str
    label: str
    plural: str
    fields: list[dict[str, Any]]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    feed: bool = False
    layoutable: bool = True
    searchable: bool = True
    children: list[tuple[str, str, str | None, bool]] = field(default_factory=list)


def _catalog() -> dict[str, SObjectType]:
    case_children = [("ActivityHistory", "WhatId", "ActivityHistories", True),
                     ("Attachment", "ParentId", "Attachments", True),
                     ("Case", "ParentId", "Cases", False),
                     ("CaseComment", "ParentId", "CaseComments", True),
                     ("CaseFeed", "ParentId", "Feeds", True),
                     ("CaseHistory", "CaseId", "Histories", True),
                     ("EmailMessage", "ParentId", "EmailMessages", True),
                     ("Task", "WhatId", "Tasks", True)]
    read_only = dict(createable=False, updateable=False, deletable=False)
    objects = [
        SObjectType("Account", "001", "Account", "Accounts", _simple_object_fields("Account"), feed=True,
                    children=[("Case", "AccountId", "Cases", False),
                              ("Contact", "AccountId", "Contacts", False),
                              ("Entitlement", "AccountId", "Entitlements", True)]),
        SObjectType("Contact", "003", "Contact", "Contacts", _contact_fields(), feed=True,
                    children=[("Case", "ContactId", "Cases", False)]),
        SObjectType("Case", "500", "Case", "Cases", _case_fields(), feed=True, children=case_children),
        SObjectType("CaseComment", "00a", "Case Comment", "Case Comments", _case_comment_fields(),
                    layoutable=False, searchable=False),
        SObjectType("Entitlement", "550", "Entitlement", "Entitlements", _simple_object_fields("Entitlement"),
                    feed=True, children=[("Case", "EntitlementId", "Cases", False)]),
        SObjectType("User", "005", "User", "Users", _user_fields(), **read_only),
        SObjectType("Group", "00G", "Group", "Groups", _group_fields(), layoutable=False, **read_only),
        SObjectType("QueueSobject", "03g", "Queue Sobject", "Queue Sobjects",
                    _simple_object_fields("QueueSobject"),
                    layoutable=False, searchable=False, **read_only),
        SObjectType("RecordType", "012", "Record Type", "Record Types", _simple_object_fields("RecordType"),
                    layoutable=False, searchable=False, **read_only),
        SObjectType("AssignmentRule", "01Q", "Assignment Rule", "Assignment Rules",
                    _simple_object_fields("AssignmentRule"), layoutable=False, **read_only),
        SObjectType("SlaProcess", "552", "Entitlement Process", "Entitlement Processes",
                    _simple_object_fields("SlaProcess"), **read_only),
        SObjectType("Organization", "00D", "Organization", "Organizations",
                    _simple_object_fields("Organization"),
                    layoutable=False, searchable=False, **read_only),
    ]
    return {o.name: o for o in objects}


CATALOG: dict[str, SObjectType] = _catalog()
PREFIXES: dict[str, str] = {o.prefix: o.name for o in CATALOG.values()}


@dataclass
class ObjectView:
    """One object as the org currently shows it (custom fields and features switched on or off)."""

    kind: SObjectType
    fields: list[dict[str, Any]]
    by_lower: dict[str, dict[str, Any]]
    rels: dict[str, dict[str, Any]]
    children: dict[str, tuple[str, str, str, bool]]

    @property
    def name(self) -> str:
        return self.kind.name

    def field(self, name: str) -> dict[str, Any] | None:
        return self.by_lower.get(name.lower())
