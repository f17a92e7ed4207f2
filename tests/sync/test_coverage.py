"""The SLA coverage check against the sandbox: real adapters over HTTPS, policies and
triggers created through the Zendesk API as an admin would, the Salesforce stand-in's
seeded entitlements, process and assignment rule."""
from __future__ import annotations

from typing import Any

import pytest

import harness
import requests

from sandbox.server import Sandbox
from sandbox.service_levels import seed
from sync.config import Config, parse_config
from adapters.helpdesk.coverage import Unknown
from adapters.helpdesk.salesforce.coverage import CaseCoverage
from adapters.helpdesk.zendesk.conditions import evaluate_condition
from adapters.helpdesk.zendesk.coverage import OutcomeCoverage, match_policy, zendesk_coverage, zendesk_fields
from sync.coverage import RouteCoverage, coverage_report, format_report, route_outcomes
from sync.daemon import build_adapter
from cli.wiring import sandbox_endpoints


# Its own sandbox: the policies and triggers made here must not reach other modules.
sb = pytest.fixture(scope="module")(harness.own_sandbox)


@pytest.fixture
def info(sb: Sandbox) -> dict[str, Any]:
    return harness.reset(sb.info(), "zendesk", "salesforce")


def admin(info: dict[str, Any]) -> requests.Session:
    zd = info["services"]["zendesk"]
    http = requests.Session()
    http.verify = info["ca_bundle"]
    http.trust_env = False
    http.headers["Authorization"] = f"Bearer {zd['api_oauth_token']}"
    return http


def zd_post(info: dict[str, Any], path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = admin(info).post(f"{info['services']['zendesk']['url']}/api/v2/{path}", json={key: body})
    response.raise_for_status()
    return response.json()[key]


def policy(info: dict[str, Any], title: str, all_: list[dict[str, Any]], metrics: list[tuple[str, str, int]],
           any_: list[dict[str, Any]] | None = None, position: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title, "filter": {"all": all_, "any": any_ or []},
                            "policy_metrics": [{"priority": p, "metric": m, "target": t, "business_hours": False}
                                               for p, m, t in metrics]}
    if position is not None:
        body["position"] = position
    return zd_post(info, "slas/policies", "sla_policy", body)


def trigger(info: dict[str, Any], title: str, all_: list[dict[str, Any]], actions: list[dict[str, Any]]) -> None:
    zd_post(info, "triggers", "trigger", {"title": title, "active": True,
                                          "conditions": {"all": all_, "any": []}, "actions": actions})


def tag(value: str, op: str = "includes") -> dict[str, Any]:
    return {"field": "current_tags", "operator": op, "value": value}


EMAIL_REQUESTER = [{"field": "notification_user", "value": ["requester_id", "Hello", "We got it"]}]


def mapping(ticket: str, helpdesk: str = "zendesk", extra: str = "", streams: str = "[mentions, dms]") -> Config:
    return parse_config(f"""\
version: 1
helpdesks:
  desk:
    kind: {helpdesk}
    sandbox: true
networks:
  brand_x:
    kind: x
    sandbox: true
routes:
  - name: r
    network: brand_x
    helpdesk: desk
    streams: {streams}
    ticket: {ticket}
{extra}""")


def report(config: Config, info: dict[str, Any], **kwargs: Any) -> RouteCoverage:
    desks = {name: build_adapter("helpdesk", ep, sandbox_endpoints(info)) for name, ep in config.helpdesks.items()}
    (route,) = coverage_report(config, desks, **kwargs)
    return route


def only(route: RouteCoverage, label: str = "route ticket") -> Any:
    (outcome,) = [o for o in route.outcomes if o.label == label]
    return outcome


# --------------------------------------------------------------------------- Zendesk SLA policies


def test_policy_matched_by_tags_and_priority(info: dict[str, Any]) -> None:
    seed(info)
    high = only(report(mapping("{tags: [social, x], priority: high, group: Social care}"), info))
    assert isinstance(high, OutcomeCoverage)
    assert (high.policy, high.position) == ("Social urgent", 1)
    assert high.first_reply is not None and high.first_reply.minutes == 30
    assert high.kinds == ("mention", "reply", "dm") and not high.warnings
    low = only(report(mapping("{tags: [social], priority: low}"), info))
    assert low.policy == "Social care"
    assert low.first_reply is not None and (low.first_reply.minutes, low.first_reply.business_hours) == (240, True)
    # No social tag on the route: neither policy keys on socialdesk's own tags.
    untagged = only(report(mapping("{tags: [x], priority: high}"), info))
    assert untagged.policy is None


def test_seed_is_idempotent(info: dict[str, Any]) -> None:
    seed(info)
    seed(info)
    desk = build_adapter("helpdesk", mapping("{tags: [social]}").helpdesks["desk"], sandbox_endpoints(info))
    assert [p["title"] for p in desk.sla_policies()] == ["Social urgent", "Social care"]
    assert [t["title"] for t in desk.triggers()] == ["Notify requester of received request"]


def test_first_match_by_position(info: dict[str, Any]) -> None:
    second = policy(info, "Catch-all social", [tag("social")], [("normal", "first_reply_time", 120)], position=2)
    first = policy(info, "Brand social", [tag("social")], [("normal", "first_reply_time", 45)], position=1)
    config = mapping("{tags: [social], priority: normal}")
    outcome = only(report(config, info))
    assert (outcome.policy, outcome.first_reply.minutes) == ("Brand social", 45)
    # Order comes from position, not from the order the API lists them in.
    fields = zendesk_fields({"tags": ["social"], "priority": "normal"}, "mention")
    assert match_policy([second, first], fields)[0]["title"] == "Brand social"
    admin(info).put(f"{info['services']['zendesk']['url']}/api/v2/slas/policies/{first['id']}",
                    json={"sla_policy": {"position": 3}}).raise_for_status()
    assert only(report(config, info)).policy == "Catch-all social"


def test_no_policy_covers_the_tickets(info: dict[str, Any]) -> None:
    policy(info, "VIP customers", [tag("vip")], [("normal", "first_reply_time", 30)])
    route = report(mapping("{tags: [social], priority: normal}"), info)
    outcome = only(route)
    assert outcome.policy is None
    assert outcome.warnings == ("no SLA policy applies: these tickets run without SLA targets",)
    lines = format_report([route])
    assert lines[0] == "route r -> desk (zendesk): 1 SLA policy, 0 active triggers"
    assert "    WARNING: no SLA policy applies: these tickets run without SLA targets" in lines


def test_policy_without_a_target_for_the_priority(info: dict[str, Any]) -> None:
    policy(info, "Social care", [tag("social")], [("normal", "first_reply_time", 60), ("high", "next_reply_time", 90)])
    urgent = only(report(mapping("{tags: [social], priority: urgent}"), info))
    assert urgent.policy == "Social care" and urgent.targets == ()
    assert urgent.warnings == ('SLA policy "Social care" applies but has no targets for priority urgent: '
                               "no SLA clock runs on these tickets",)
    high = only(report(mapping("{tags: [social], priority: high}"), info))
    assert [t.metric for t in high.targets] == ["next_reply_time"] and high.first_reply is None
    assert high.warnings == ('SLA policy "Social care" has no first-reply target for priority high',)


def test_unknown_condition_field_is_not_guessed(info: dict[str, Any]) -> None:
    policy(info, "Enterprise", [tag("social"), {"field": "organization_id", "operator": "is", "value": "42"}],
           [("normal", "first_reply_time", 10)])
    policy(info, "Social care", [tag("social")], [("normal", "first_reply_time", 60)])
    outcome = only(report(mapping("{tags: [social], priority: normal}"), info))
    assert outcome.policy == "Social care"
    assert outcome.notes == ('SLA policy "Enterprise" (position 1): cannot evaluate organization_id; '
                             "treated as not applying",)
    assert evaluate_condition({"field": "satisfaction_score", "operator": "is", "value": "good"},
                              zendesk_fields({}, "mention")) == (None, "cannot evaluate satisfaction_score")
    # An unknown field cannot rescue a condition that is false anyway: nothing to report.
    fields = zendesk_fields({"tags": ["social"]}, "mention")
    assert match_policy([{"title": "x", "position": 1, "filter": {"all": [
        tag("vip"), {"field": "organization_id", "operator": "is", "value": "1"}]}}], fields) == (None, [])


def test_policy_on_fields_the_route_sets(info: dict[str, Any]) -> None:
    desk = build_adapter("helpdesk", mapping("{}").helpdesks["desk"], sandbox_endpoints(info))
    escalations = desk.lookup("group", "Escalations")
    network = desk.lookup("field", "Social network")
    policy(info, "Escalations desk", [{"field": "group_id", "operator": "is", "value": escalations},
                                      {"field": f"custom_fields_{network}", "operator": "is", "value": "x"},
                                      {"field": "via_id", "operator": "is", "value": 5}],
           [("normal", "first_reply_time", 20)])
    hit = only(report(mapping("{priority: normal, group: Escalations, custom_fields: {Social network: x}}"), info))
    assert hit.policy == "Escalations desk"
    miss = only(report(mapping("{priority: normal, group: Social care, custom_fields: {Social network: x}}"), info))
    assert miss.policy is None
    # A name the helpdesk does not know: reported, and conditions on it are not guessed.
    route = report(mapping("{priority: normal, group: Nobody, custom_fields: {Social network: x}}"), info)
    assert any("group 'Nobody'" in p for p in route.problems)
    assert only(route).notes and "cannot evaluate group_id" in only(route).notes[0]


def test_custom_resolve_is_used(info: dict[str, Any]) -> None:
    policy(info, "Group 77", [{"field": "group_id", "operator": "is", "value": 77}],
           [("normal", "first_reply_time", 5)])
    asked: list[tuple[str, Any]] = []

    def resolve(desk: Any, kind: str, name: Any) -> str:
        asked.append((kind, name))
        return "77"

    outcome = only(report(mapping("{priority: normal, group: Anything}"), info, resolve=resolve))
    assert asked == [("group", "Anything")] and outcome.policy == "Group 77"


# --------------------------------------------------------------------------- Zendesk triggers


def test_default_email_trigger_is_warned_about(info: dict[str, Any]) -> None:
    seed(info)
    route = report(mapping("{tags: [social], priority: normal}"), info)
    (finding,) = route.triggers
    assert finding.trigger == "Notify requester of received request" and finding.certain and finding.everywhere
    assert finding.sends == "e-mails the requester and CCs"
    warning = ('  WARNING: trigger "Notify requester of received request" (position 1) e-mails the requester '
               'and CCs on every social ticket; social requesters have no usable e-mail address: add the '
               'condition "Tags contains none of: socialdesk" to it')
    assert warning in format_report([route])


def test_triggers_that_do_not_fire_on_social_tickets_are_quiet(info: dict[str, Any]) -> None:
    trigger(info, "E-mail channel receipts", [tag("email_channel")], EMAIL_REQUESTER)
    trigger(info, "Receipt on update", [{"field": "update_type", "operator": "is", "value": "Change"}],
            EMAIL_REQUESTER)
    trigger(info, "Already excludes social", [{"field": "update_type", "operator": "is", "value": "Create"},
                                              tag("socialdesk", "not_includes")], EMAIL_REQUESTER)
    trigger(info, "Tag new tickets", [{"field": "update_type", "operator": "is", "value": "Create"}],
            [{"field": "current_tags", "value": "triaged"}])
    route = report(mapping("{tags: [social], priority: normal}"), info)
    assert route.triggers == ()
    assert not any("trigger" in line and "WARNING" in line for line in format_report([route]))


def test_trigger_only_on_some_outcomes_and_one_that_cannot_be_evaluated(info: dict[str, Any]) -> None:
    trigger(info, "DM receipts", [tag("social_dm")], EMAIL_REQUESTER)
    trigger(info, "Subject receipts", [{"field": "subject_includes_word", "operator": "includes", "value": "refund"}],
            EMAIL_REQUESTER)
    route = report(mapping("{tags: [social]}"), info)
    by_title = {t.trigger: t for t in route.triggers}
    assert by_title["DM receipts"].fires_on == ("route ticket (dm)",) and not by_title["DM receipts"].everywhere
    maybe = by_title["Subject receipts"]
    assert not maybe.certain and maybe.unknown == ("cannot evaluate subject_includes_word",)
    lines = format_report([route])
    assert any(line.startswith('  WARNING: trigger "DM receipts"') and "on route ticket (dm);" in line
               for line in lines)
    assert any(line.startswith('  check: trigger "Subject receipts"') for line in lines)


def test_triggers_run_before_the_sla_policy_is_chosen(info: dict[str, Any]) -> None:
    seed(info)
    trigger(info, "DMs are urgent", [{"field": "update_type", "operator": "is", "value": "Create"}, tag("social_dm")],
            [{"field": "priority", "value": "urgent"}])
    route = report(mapping("{tags: [social], priority: normal}"), info)
    by_kinds = {o.kinds: o for o in route.outcomes}
    assert set(by_kinds) == {("mention", "reply"), ("dm",)}
    assert (by_kinds[("dm",)].policy, by_kinds[("dm",)].first_reply.minutes) == ("Social urgent", 15)
    assert by_kinds[("dm",)].trigger_changes == ('trigger "DMs are urgent" sets priority urgent',)
    assert by_kinds[("mention", "reply")].policy == "Social care"


def test_unreadable_policies_are_a_problem_not_a_verdict(info: dict[str, Any]) -> None:
    config = mapping("{tags: [social]}")
    desk = build_adapter("helpdesk", config.helpdesks["desk"], sandbox_endpoints(info))

    def no_admin() -> list[dict[str, Any]]:
        from adapters.base import AuthFailed
        raise AuthFailed("list SLA policies: HTTP 403")

    desk.sla_policies = no_admin  # an agent's credentials: the policies are refused
    route, = coverage_report(config, {"desk": desk})
    assert route.policies is None and route.active_triggers == 0
    assert route.problems == ("SLA policies not readable: list SLA policies: HTTP 403 "
                              "(reading them needs an admin's credentials)",)
    assert all(not o.warnings for o in route.outcomes)


def test_a_helpdesk_without_coverage_is_said_so(info: dict[str, Any]) -> None:
    """Only an adapter meeting ReportsSlaCoverage is asked; one that merely has methods
    of the same names as a vendor's (the old probes) is named, not called."""
    class Plain:
        kind = "zendesk"

        def sla_policies(self) -> Any:
            raise AssertionError("never probed")

        def triggers(self) -> Any:
            raise AssertionError("never probed")

    config = mapping("{tags: [social]}")
    route, = coverage_report(config, {"desk": Plain()})
    assert route.outcomes == () and route.notes == ("no SLA coverage check for zendesk helpdesks",)


# --------------------------------------------------------------------------- rules


def test_one_outcome_per_rule(info: dict[str, Any]) -> None:
    seed(info)
    config = mapping("{tags: [social], priority: normal}", extra="""\
    rules:
      - name: vip
        when: {followers_min: 10000}
        then: {priority: urgent, tags: [social_vip]}
      - name: dms
        when: {kind: [dm]}
        then: {priority: low}
      - name: facebook only
        when: {network: [facebook]}
        then: {priority: high}
""")
    route = report(config, info)
    assert [(o.label, o.kinds, o.policy) for o in route.outcomes] == [
        ("no rule fires", ("mention", "reply", "dm"), "Social care"),
        ("rule 'vip'", ("mention", "reply", "dm"), "Social urgent"),
        ("rule 'dms'", ("dm",), "Social care")]
    assert only(route, "rule 'dms'").first_reply.minutes == 240
    assert "rule 'facebook only' fires only on facebook; this route reads x" in route.notes


def test_a_route_without_rules_has_one_outcome_its_ticket() -> None:
    from sync.config import IncludeConfig, MirrorConfig, PollConfig, RouteConfig, TicketTemplate

    route = RouteConfig(name="old", network="brand", helpdesk="desk", streams=("dms",), search_query=None,
                        poll=PollConfig(), include=IncludeConfig(), blocklist=(), mirror=MirrorConfig(),
                        ticket=TicketTemplate(tags=("social",), priority="high"))
    outcomes, notes = route_outcomes(route)
    assert outcomes == [("route ticket", ("dm",), {
        "priority": "high", "group": None, "type": None, "brand": None, "form": None, "origin": None,
        "record_type": None, "entitlement": None, "assignment_rule": None, "tags": ("social",),
        "custom_fields": {}})] and notes == []
    fields = zendesk_fields({"tags": ("social",), "priority": "high"}, "dm")
    assert fields["tags"] == ("socialdesk", "social", "social_dm") and isinstance(fields["brand_id"], Unknown)
    covered, _ = zendesk_coverage([("plain", fields)], [])
    assert covered[0].warnings == ("no SLA policy applies: these tickets run without SLA targets",)


# --------------------------------------------------------------------------- Salesforce


def test_salesforce_entitlement_with_process_and_assignment_rule(info: dict[str, Any]) -> None:
    route = report(mapping("{priority: normal, entitlement: Social Care Standard}", "salesforce"), info)
    case = only(route)
    assert isinstance(case, CaseCoverage)
    assert (case.entitlement, case.status, case.process, case.process_active) == (
        "Social Care Standard", "Active", "Social Care SLA", True)
    assert (case.assignment, case.assignment_rule) == ("runs", "Social Care Routing")
    assert case.warnings == () and case.milestones is None
    lines = format_report([route])
    assert lines[1].startswith('  route ticket [mention, reply, dm]: entitlement "Social Care Standard" (Active until ')
    assert lines[1].endswith(', process "Social Care SLA"); assignment rule "Social Care Routing" runs')
    assert "  check: milestones not readable (this org does not expose MilestoneType)" in lines
    # A queue named and no flag: the case goes to the queue, the rule is bypassed.
    queued = only(report(mapping("{entitlement: Social Care Standard, group: Social Care Queue}", "salesforce"), info))
    assert queued.assignment == "bypassed" and queued.warnings == ()


def test_salesforce_missing_entitlement(info: dict[str, Any]) -> None:
    none = only(report(mapping("{priority: normal}", "salesforce"), info))
    assert none.entitlement is None
    assert none.warnings == ("no entitlement: cases get no entitlement process and no milestones",)
    unknown = only(report(mapping("{priority: normal, entitlement: Gold Support}", "salesforce"), info))
    assert unknown.entitlement == "Gold Support" and unknown.entitlement_id is None
    assert unknown.warnings == ('entitlement "Gold Support": it does not exist: cases get no milestones',)


def test_salesforce_expired_entitlement(info: dict[str, Any]) -> None:
    case = only(report(mapping("{entitlement: Legacy Phone Support, assignment_rule: false}", "salesforce"), info))
    assert case.status == "Expired"
    assert len(case.warnings) == 2
    assert case.warnings[0].startswith('entitlement "Legacy Phone Support" expired on ')
    assert case.warnings[1] == ("the assignment rule is bypassed and no queue is named: cases stay with the "
                                "integration user")
