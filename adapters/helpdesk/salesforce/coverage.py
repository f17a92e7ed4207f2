"""Salesforce SLA coverage: the entitlement a case gets (none: no entitlement process, no
milestones), the entitlement's status and dates (expired: a warning), its process, the
org's milestone types, and whether the active Case assignment rule runs or is bypassed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Mapping, MutableMapping, Sequence

from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from adapters.base import FatalError, NotFound, SkippableError, SocialdeskError
from adapters.helpdesk.coverage import Names, RouteOutcome, SlaCoverage, Unknown, kinds_text, quoted as _q
from adapters.helpdesk.salesforce.records import _looks_like_id


@dataclass(frozen=True)
class CaseCoverage:
    """What a Salesforce case outcome gets: entitlement, process, milestones, assignment."""

    label: str
    kinds: tuple[str, ...]
    entitlement: str | None = None          # as the mapping names it
    entitlement_id: str | None = None
    status: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    process: str | None = None
    process_active: bool | None = None
    milestones: tuple[str, ...] | None = None
    milestones_note: str | None = None
    assignment: str = "runs"                # runs | bypassed
    assignment_rule: str | None = None      # the active Case assignment rule's name
    owner: Any = None                       # the queue named by the mapping, if any
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The case outcome's report line: entitlement, process, assignment; its warnings."""
        parts = []
        if self.entitlement is None:
            parts.append("no entitlement")
        elif self.entitlement_id is None:
            parts.append(f"entitlement {_q(self.entitlement)} (not found)")
        else:
            details = [self.status or "status unknown"]
            if self.end_date:
                details[0] += f" until {self.end_date}"
            if self.process:
                details.append(f"process {_q(self.process)}{'' if self.process_active else ' (inactive)'}")
            parts.append(f"entitlement {_q(self.entitlement)} ({', '.join(details)})")
        if self.assignment == "runs":
            parts.append(f"assignment rule {_q(self.assignment_rule)} runs" if self.assignment_rule
                         else "assignment: no active rule")
        else:
            parts.append("assignment rule bypassed" + (f" (owner: queue {self.owner})" if self.owner is not None else ""))
        lines = [f"  {self.label}{kinds_text(self.kinds)}: " + "; ".join(parts)]
        lines += [f"    WARNING: {w}" for w in self.warnings]
        lines += [f"    check: {n}" for n in self.notes]
        return lines


def salesforce_coverage(label: str, kinds: Sequence[str], values: Mapping[str, Any],
                        levels: Mapping[str, Any], today: date | None = None) -> CaseCoverage:
    """A case outcome's entitlement, process, milestones and assignment, from the
    ``service_levels`` the adapter read for its entitlement."""
    today = today or datetime.now(timezone.utc).date()
    warnings: list[str] = []
    notes: list[str] = []
    named = values.get("entitlement")
    ent = levels.get("entitlement") or None
    process = levels.get("process") or None
    if named is None:
        warnings.append("no entitlement: cases get no entitlement process and no milestones")
    elif ent is None:
        problem = levels.get("entitlement_problem") or f"no Entitlement named {named!r}"
        warnings.append(f"entitlement {_q(named)}: {problem}: cases get no milestones")
    else:
        status = ent.get("status")
        end = _date(ent.get("end_date"))
        start = _date(ent.get("start_date"))
        if status == "Expired" or (status is None and end is not None and end < today):
            warnings.append(f"entitlement {_q(ent.get('name'))} expired on {ent.get('end_date')}: "
                            "its milestones no longer run on new cases")
        elif status == "Inactive" or (status is None and start is not None and start > today):
            warnings.append(f"entitlement {_q(ent.get('name'))} is not active yet "
                            f"(starts {ent.get('start_date')})")
        if not ent.get("sla_process_id"):
            warnings.append(f"entitlement {_q(ent.get('name'))} has no entitlement process: no milestones")
        elif process is None:
            notes.append(levels.get("entitlement_problem") or "the entitlement process could not be read")
        elif process.get("active") is False:
            warnings.append(f"entitlement process {_q(process.get('name'))} is inactive: no milestones run")
    group = values.get("group")
    flag = values.get("assignment_rule")
    runs = flag if flag is not None else group is None
    rule = levels.get("assignment_rule") or None
    if levels.get("assignment_rule_problem"):
        notes.append(str(levels["assignment_rule_problem"]))
    elif runs and rule is None:
        warnings.append("no active Case assignment rule: cases stay with the integration user"
                        if group is None else "no active Case assignment rule")
    elif not runs and group is None:
        warnings.append("the assignment rule is bypassed and no queue is named: cases stay with the "
                        "integration user")
    milestones = levels.get("milestones")
    return CaseCoverage(
        label=label, kinds=tuple(kinds), entitlement=str(named) if named is not None else None,
        entitlement_id=ent.get("id") if ent else None, status=ent.get("status") if ent else None,
        start_date=ent.get("start_date") if ent else None, end_date=ent.get("end_date") if ent else None,
        process=process.get("name") if process else None,
        process_active=process.get("active") if process else None,
        milestones=tuple(str(m.get("name")) for m in milestones) if isinstance(milestones, list) else None,
        milestones_note=levels.get("milestones_note") if ent else None,
        assignment="runs" if runs else "bypassed", assignment_rule=rule.get("name") if rule else None,
        owner=group, warnings=tuple(warnings), notes=tuple(notes))


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None



def milestone_lines(cases: Sequence[CaseCoverage]) -> list[str]:
    """Milestone types are the org's, not one entitlement's: said once for a route."""
    cases = [o for o in cases if o.entitlement_id]
    milestones = next((o for o in cases if o.milestones is not None), None)
    if milestones is not None:
        return ["  milestone types in the org: " + (", ".join(milestones.milestones or ()) or "none")]
    if cases and cases[0].milestones_note:
        return [f"  check: {cases[0].milestones_note}"]
    return []


class SalesforceCoverage:
    """``ReportsSlaCoverage`` for ``SalesforceHelpdesk``: each case outcome's entitlement,
    read by SOQL (read only), and the org's assignment rule."""

    _call: Callable[[str, Callable[[Salesforce], Any]], Any]

    def sla_coverage(self, outcomes: Sequence[RouteOutcome], resolve: Callable[[str, Any], Any],
                     reads: MutableMapping[Any, Any]) -> SlaCoverage:
        """Each outcome's entitlement and assignment; each entitlement's service levels are
        read once per report (``reads``)."""
        ids = Names(resolve)
        cases: list[CaseCoverage] = []
        problems: list[str] = []
        for label, kinds, values in outcomes:
            named = values.get("entitlement")
            ent_id = ids("entitlement", named) if named is not None else None
            key = None if ent_id is None else str(ent_id)
            if key not in reads:
                try:
                    reads[key] = self.service_levels(
                        None if ent_id is None or isinstance(ent_id, Unknown) else str(ent_id))
                except SocialdeskError as err:
                    reads[key] = err
            levels = reads[key]
            if isinstance(levels, SocialdeskError):
                problems.append(f"service levels not readable: {levels}")
                continue
            if isinstance(ent_id, Unknown):
                levels = {**levels, "entitlement": None, "entitlement_problem": "it does not exist"}
            cases.append(salesforce_coverage(label, kinds, values, levels))
        # A name that does not resolve is said on its outcome ("it does not exist"), not twice.
        return SlaCoverage(tuple(cases), problems=tuple(dict.fromkeys([*problems, *[
            p for p in ids.problems if not p.startswith("entitlement")]])), footer=tuple(milestone_lines(cases)))

    def service_levels(self, entitlement: str | None) -> dict[str, Any]:
        """What an org does with a case for SLAs, read by SOQL.

        ``entitlement`` (a name or an id; None: none) -> its Status, dates and entitlement
        process (Name, IsActive); the org's milestone types (``MilestoneType``; an org that
        does not expose it gets ``milestones`` None and a note); and the active Case
        assignment rule. An object the org does not expose is said in ``*_problem`` /
        ``milestones_note`` rather than raised; auth, rate and transient errors raise.
        """
        out: dict[str, Any] = {"entitlement": None, "entitlement_problem": None, "process": None,
                               "milestones": None, "milestones_note": None,
                               "assignment_rule": None, "assignment_rule_problem": None}
        if entitlement is not None and str(entitlement).strip():
            value = str(entitlement).strip()
            where = "Id = {}" if _looks_like_id(value) else "Name = {}"
            soql = format_soql("SELECT Id, Name, Status, Type, StartDate, EndDate, SlaProcessId "
                               f"FROM Entitlement WHERE {where} ORDER BY EndDate DESC NULLS LAST", value)
            try:
                rows = self._call("read entitlement", lambda sf: sf.query(soql))["records"]
            except (FatalError, SkippableError) as err:
                rows = None
                out["entitlement_problem"] = f"entitlements not readable ({err}); is entitlement management on?"
            if rows == []:
                out["entitlement_problem"] = f"no Entitlement named {value!r}"
            elif rows:
                r = rows[0]
                out["entitlement"] = {"id": r.get("Id"), "name": r.get("Name"), "status": r.get("Status"),
                                      "type": r.get("Type"), "start_date": r.get("StartDate"),
                                      "end_date": r.get("EndDate"), "sla_process_id": r.get("SlaProcessId")}
                process_id = r.get("SlaProcessId")
                if process_id:
                    try:
                        found = self._call("read entitlement process", lambda sf: sf.query(format_soql(
                            "SELECT Id, Name, IsActive, Description, VersionNumber FROM SlaProcess "
                            "WHERE Id = {}", process_id)))["records"]
                    except (FatalError, SkippableError) as err:
                        found = []
                        out["entitlement_problem"] = f"entitlement process not readable ({err})"
                    if found:
                        p = found[0]
                        out["process"] = {"id": p.get("Id"), "name": p.get("Name"),
                                          "active": p.get("IsActive"), "description": p.get("Description"),
                                          "version": p.get("VersionNumber")}
                try:
                    types = self._call("read milestone types", lambda sf: sf.query_all(
                        "SELECT Id, Name, Description, RecurrenceType FROM MilestoneType ORDER BY Name"))
                    out["milestones"] = [{"id": m.get("Id"), "name": m.get("Name"),
                                          "description": m.get("Description"),
                                          "recurrence": m.get("RecurrenceType")} for m in types["records"]]
                except (FatalError, SkippableError, NotFound):
                    out["milestones_note"] = "milestones not readable (this org does not expose MilestoneType)"
        try:
            rules = self._call("read assignment rules", lambda sf: sf.query(
                "SELECT Id, Name FROM AssignmentRule WHERE SobjectType = 'Case' AND Active = true"))["records"]
            if rules:
                out["assignment_rule"] = {"id": rules[0].get("Id"), "name": rules[0].get("Name")}
        except (FatalError, SkippableError) as err:
            out["assignment_rule_problem"] = f"assignment rules not readable ({err})"
        return out
