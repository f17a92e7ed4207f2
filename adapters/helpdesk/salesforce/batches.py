"""Salesforce batch writes over sObject Collections (``BatchesWrites``): up to 200 records
in one synchronous API call."""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Sequence

from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from adapters.base import Author, NewTicket, RetriableError, SkippableError, SocialdeskError, TicketRef
from adapters.helpdesk.salesforce.records import NO_ASSIGN, _comment_text


class SalesforceBatches:
    """Contacts, Cases and CaseComments many at a time, one result per record, in order."""

    batch_max: ClassVar[int]
    settings: Any
    _call: Callable[[str, Callable[[Salesforce], Any]], Any]
    _case_data: Callable[[NewTicket], dict[str, Any]]
    _auto_assign: Callable[[NewTicket], str]
    _new_ref: Callable[[NewTicket, str, Mapping[str, Any]], TicketRef]
    _fields: Callable[[], str]
    _ref: Callable[[Mapping[str, Any]], TicketRef]

    def _collection(self, what: str, method: str, path: str, records: list[dict[str, Any]],
                    headers: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """sObject Collections calls of up to 200 records (one API call each), per-record results."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(records), self.batch_max):
            body = {"allOrNone": False, "records": records[start:start + self.batch_max]}
            results = self._call(what, lambda sf: sf.restful(path, method=method, json=body,
                                                             headers=dict(headers or {})))
            if not isinstance(results, list) or len(results) != len(body["records"]):
                raise RetriableError(f"{what}: unexpected collection response")
            out.extend(results)
        return out

    @staticmethod
    def _failure(result: Mapping[str, Any], what: str) -> SkippableError | None:
        if result.get("success"):
            return None
        errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors") or [])
        return SkippableError(f"{what}: {errors or 'refused'}")

    def upsert_requesters(self, authors: Sequence[Author],
                          on_submitted: Callable[[str, int, int], None] | None = None) -> list[str | SocialdeskError]:
        """Contacts upserted on the social identity, up to 200 in one call."""
        field = self.settings.contact_key_field
        records = [{"attributes": {"type": "Contact"}, field: f"{a.network}:{a.handle}".lower(),
                    "LastName": (a.name or f"@{a.handle}")[:80], "Description": f"{a.network} @{a.handle}"}
                   for a in authors]
        results = self._collection("upsert contacts", "PATCH", f"composite/sobjects/Contact/{field}", records)
        return [self._failure(r, "upsert contact") or str(r["id"]) for r in results]

    def create_tickets(self, tickets: Sequence[NewTicket],
                       on_submitted: Callable[[str, int, int], None] | None = None) -> list[TicketRef | SocialdeskError]:
        """Cases inserted with the external-ID field set, up to 200 a call (one per assignment
        setting); those a lost answer already made are read in one query, never updated (an
        update would run the assignment rule again: see ``create_ticket``)."""
        field = self.settings.external_id_field
        out: dict[int, TicketRef | SocialdeskError] = {}
        groups: dict[str, list[int]] = {}
        existing: dict[str, list[int]] = {}
        for index, ticket in enumerate(tickets):
            groups.setdefault(self._auto_assign(ticket), []).append(index)
        for assign, indexes in groups.items():
            datas = [self._case_data(tickets[i]) for i in indexes]
            records = [{"attributes": {"type": "Case"}, field: tickets[i].external_id, **data}
                       for i, data in zip(indexes, datas)]
            results = self._collection("create cases", "POST", "composite/sobjects", records,
                                       {"Sforce-Auto-Assign": assign})
            for i, data, result in zip(indexes, datas, results):
                if self._duplicate(result, field):
                    existing.setdefault(str(tickets[i].external_id), []).append(i)
                    continue
                out[i] = self._failure(result, "create case") or self._new_ref(tickets[i], str(result["id"]), data)
        if existing:
            rows = self._call("find cases", lambda sf: sf.query_all(format_soql(
                f"SELECT {self._fields()} FROM Case WHERE {field} IN {{}}", list(existing))))
            for row in rows["records"]:
                for i in existing.pop(str(row.get(field)), []):
                    out[i] = self._ref(row)
            for i in (i for indexes in existing.values() for i in indexes):
                out[i] = RetriableError("create case: the case is not readable yet")
        return [out[i] for i in range(len(tickets))]

    @staticmethod
    def _duplicate(result: Mapping[str, Any], field: str) -> bool:
        return not result.get("success") and any(
            e.get("statusCode") == "DUPLICATE_VALUE" and field in str(e.get("message"))
            for e in result.get("errors") or [])

    def add_comments(self, comments: Sequence[tuple[str, str, bool, str | None]],
                     on_submitted: Callable[[str, int, int], None] | None = None) -> list[None | SocialdeskError]:
        """CaseComments, up to 200 in one call, each within CommentBody's 4,000 bytes."""
        records = [{"attributes": {"type": "CaseComment"}, "ParentId": ticket_id,
                    "CommentBody": _comment_text(body), "IsPublished": public}
                   for ticket_id, body, public, _ in comments]
        results = self._collection("add case comments", "POST", "composite/sobjects", records, NO_ASSIGN)
        return [self._failure(r, "add case comment") for r in results]

    def get_tickets(self, ticket_ids: Sequence[str]) -> dict[str, TicketRef]:
        """The cases that still exist, in one query."""
        if not ticket_ids:
            return {}
        rows = self._call("read cases", lambda sf: sf.query_all(format_soql(
            f"SELECT {self._fields()} FROM Case WHERE Id IN {{}}", list(ticket_ids))))
        return {str(r["Id"]): self._ref(r) for r in rows["records"]}

    def job_settled(self, job_id: str) -> bool:
        """Collections are synchronous: nothing is ever left running."""
        return True

