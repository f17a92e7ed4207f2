"""Routing rules, guards and viral watch in mapping.yaml: how they load, what a mention fires,
which ticket fields result, and `socialdesk rules explain` showing it to an admin."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Author, Mention
from cli import main as cli
from sync.config import (
    ApprovalConfig, Config, ConfigError, MirrorConfig, RouteConfig, SpikeConfig, TicketTemplate, ViralConfig,
    load_config, parse_config,
)
from sync.rules import MentionError, engagement, evaluate, mention_from_dict, ticket_fields

ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
version: 1
helpdesks:
  zd: {kind: zendesk, sandbox: true}
  sf: {kind: salesforce, sandbox: true}
networks:
  brand_x: {kind: x, sandbox: true}
  other_x: {kind: x, sandbox: true}
routes:
  - name: r
    network: brand_x
"""
BODY_LINE = 13  # the first line of a route body given to mapping()


def mapping(body: str, desk: str = "zd") -> str:
    """A sandbox mapping with one route ``r`` on ``desk``; ``body`` starts on line 13."""
    return HEAD + f"    helpdesk: {desk}\n    streams: [mentions, dms]\n" + textwrap.indent(
        textwrap.dedent(body), "    ")


def parse(body: str, desk: str = "zd") -> Config:
    return parse_config(mapping(body, desk), "mapping.yaml", {})


def route(body: str, desk: str = "zd") -> RouteConfig:
    return parse(body, desk).route("r")


def problems(body: str, desk: str = "zd") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(body, desk)
    return info.value.problems


def only_problem(body: str, desk: str = "zd") -> str:
    found = problems(body, desk)
    assert len(found) == 1, found
    return found[0]


def mention(text: str = "hello there", **changes: Any) -> Mention:
    author = Author(network="x", id="42", handle="ada", name="Ada", followers=changes.pop("followers", 120),
                    verified=changes.pop("verified", False))
    values: dict[str, Any] = dict(network="x", id="1001", kind="mention", author=author, text=text,
                                  created_at=datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc),
                                  url="https://x.com/ada/status/1001", conversation_id="1001", lang="en",
                                  metrics={})
    values.update(changes)
    return Mention(**values)


def one_rule(when: str, then: str = "{tags: [hit]}") -> RouteConfig:
    return route(f"""\
        rules:
          - name: r1
            when: {when}
            then: {then}
        """)


# --------------------------------------------------------------------------- conditions


CONDITIONS = [
    # when, a mention that fires it, one that does not
    ("{network: x}", mention(), mention(network="facebook")),
    ("{network: [facebook, instagram]}", mention(network="instagram"), mention()),
    ("{kind: reply}", mention(kind="reply"), mention()),
    ("{kind: [dm, comment]}", mention(kind="dm"), mention(kind="reply")),
    ("{kind: quote}", mention(is_quote=True), mention()),
    ("{public: true}", mention(), mention(kind="dm")),
    ("{public: false}", mention(kind="dm"), mention(kind="reply")),
    ("{keywords: [outage, down]}", mention("Is the app DOWN?"), mention("cannot download the app")),
    ("{keywords: [not working]}", mention("checkout not\n  working today"), mention("working, not broken")),
    ("{keywords: '#fail'}", mention("again #fail."), mention("again #failing")),
    ("{regex: '\\bORD-\\d{6}\\b'}", mention("order ORD-123456 late"), mention("order ORD-1234567 late")),
    ("{regex: '(?i)refund'}", mention("REFUND please"), mention("refurbished")),
    ("{language: en}", mention(lang="en-GB"), mention(lang="eng")),
    ("{language: [fr, pt-br]}", mention(lang="pt-BR"), mention(lang="pt-PT")),
    ("{language: en}", mention(lang="EN"), mention(lang=None)),
    ("{followers_min: 10000}", mention(followers=10000), mention(followers=9999)),
    ("{followers_min: 10}", mention(followers=10), mention(followers=None)),
    ("{followers_max: 50}", mention(followers=50), mention(followers=51)),
    ("{verified: true}", mention(verified=True), mention(verified=None)),
    ("{verified: false}", mention(verified=None), mention(verified=True)),
    ("{engagement_min: 10}", mention(metrics={"like_count": 6, "retweet_count": 4}),
     mention(metrics={"like_count": 6, "impression_count": 5000})),
    ("{metrics_min: {like_count: 100, reply_count: 5}}", mention(metrics={"like_count": 100, "reply_count": 9}),
     mention(metrics={"like_count": 900, "reply_count": 4})),
    ("{keywords: [refund], followers_min: 100}", mention("refund me", followers=100),
     mention("refund me", followers=99)),
    ("{}", mention(), None),
]


@pytest.mark.parametrize("when, fires, misses", CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_each_condition_fires_and_does_not(when: str, fires: Mention, misses: Mention | None) -> None:
    rules = one_rule(when)
    hit = evaluate(rules, fires)
    assert hit.fired == ("r1",)
    assert hit.ticket.tags == ("hit",)
    if misses is not None:
        missed = evaluate(rules, misses)
        assert missed.fired == () and missed.ticket == rules.ticket


def test_account_is_the_routes_network_account_unless_given() -> None:
    rules = one_rule("{account: brand_x}")
    assert evaluate(rules, mention()).fired == ("r1",)
    assert evaluate(rules, mention(), account="other_x").fired == ()
    assert evaluate(one_rule("{account: [other_x]}"), mention(), account="other_x").fired == ("r1",)


def test_engagement_leaves_out_views() -> None:
    assert engagement(mention(metrics={"like_count": 3, "reply_count": 2, "impression_count": 900})) == 5


def test_reasons_say_which_condition_held() -> None:
    rules = one_rule("{keywords: [down, outage], followers_min: 1000, public: true}")
    [line, _] = evaluate(rules, mention("outage? all down", followers=2500)).explain()
    assert line == ("rule 'r1' fired (mapping.yaml:14): a public post; keywords 'down', 'outage'; "
                    "2,500 followers >= 1,000")


# --------------------------------------------------------------------------- order and modes


ORDERED = """\
ticket:
  tags: [social]
  priority: normal
  group: Social care
  custom_fields: {Social network: x, Tier: basic}
rules_match: MODE
rules:
  - name: outage
    when: {keywords: [down]}
    then: {priority: high, group: Escalations, tags: [social_outage], custom_fields: {Tier: ops}}
  - name: influencer
    when: {followers_min: 1000}
    STOPthen: {priority: urgent, tags: [social_vip, social_outage]}
  - name: private
    when: {public: false}
    then: {priority: low, tags: [social_private]}
  - name: everyone
    then: {tags: [seen]}
"""


def ordered(mode: str = "all", stop: bool = False) -> RouteConfig:
    return route(ORDERED.replace("MODE", mode).replace("STOP", "stop: true\n    " if stop else ""))


def test_all_mode_applies_every_matching_rule_in_order() -> None:
    result = evaluate(ordered(), mention("site down", followers=5000))
    assert result.fired == ("outage", "influencer", "everyone")
    ticket = result.ticket
    assert ticket.priority == "urgent"                      # the later rule wins
    assert ticket.group == "Escalations"                    # set once, kept
    assert ticket.tags == ("social", "social_outage", "social_vip", "seen")   # accumulate, no repeats
    assert dict(ticket.custom_fields) == {"Social network": "x", "Tier": "ops"}
    assert "priority: urgent (rule 'influencer' overrides 'outage')" in result.explain()


def test_later_rule_overrides_an_earlier_one_in_file_order() -> None:
    result = evaluate(ordered(), mention("site down", kind="dm", followers=5000))
    assert result.fired == ("outage", "influencer", "private", "everyone")
    assert result.ticket.priority == "low"
    assert result.ticket.tags[-2:] == ("social_private", "seen")


def test_first_mode_applies_only_the_first_matching_rule() -> None:
    result = evaluate(ordered("first"), mention("site down", followers=5000))
    assert result.fired == ("outage",)
    assert result.ticket.priority == "high" and result.ticket.tags == ("social", "social_outage")
    assert result.explain()[-1] == "rules_match: first, so the rules after it were not evaluated"
    assert evaluate(ordered("first"), mention("hi", followers=5000)).fired == ("influencer",)


def test_stop_ends_all_mode_only_once_its_rule_fired() -> None:
    stopped = evaluate(ordered(stop=True), mention("site down", kind="dm", followers=5000))
    assert stopped.fired == ("outage", "influencer") and stopped.stopped_by == "influencer"
    assert stopped.ticket.priority == "urgent" and "seen" not in stopped.ticket.tags
    assert stopped.explain()[-2] == "rule 'influencer' has stop: true, so the rules after it were not evaluated"
    passed = evaluate(ordered(stop=True), mention("site down", kind="dm", followers=10))
    assert passed.fired == ("outage", "private", "everyone") and passed.stopped_by is None


def test_no_rule_fired_keeps_the_route_ticket() -> None:
    rules = route("""\
        rules:
          - {name: vip, when: {followers_min: 100000}, then: {priority: urgent}}
        """)
    result = evaluate(rules, mention())
    assert result.fired == () and result.ticket is rules.ticket
    assert result.explain() == ["no rule fired: the route's ticket settings apply as they are"]


def test_rules_match_defaults_to_all_and_routes_without_rules_still_work() -> None:
    plain = route("ticket: {priority: low}\n")
    assert plain.rules_match == "all" and len(plain.rules) == 0
    assert evaluate(plain, mention()).ticket.priority == "low"
    built = RouteConfig(name="r", network="n", helpdesk="h", streams=("mentions",), search_query=None,
                        poll=plain.poll, include=plain.include, blocklist=(), ticket=TicketTemplate(),
                        mirror=MirrorConfig())
    assert built.rules_match == "all" and built.viral == ViralConfig() and evaluate(built, mention()).fired == ()


def test_salesforce_actions_apply() -> None:
    rules = route("""\
        ticket: {origin: Social, record_type: Social_Care, entitlement: Social Care Standard}
        rules:
          - name: vip
            when: {verified: true}
            then: {entitlement: Social Care Premium, assignment_rule: false, record_type: Support, origin: X}
        """, desk="sf")
    ticket = evaluate(rules, mention(verified=True)).ticket
    assert (ticket.origin, ticket.record_type, ticket.entitlement, ticket.assignment_rule) == (
        "X", "Support", "Social Care Premium", False)
    assert rules.ticket.assignment_rule is None


# --------------------------------------------------------------------------- rule errors


def test_invalid_regex_points_at_the_offending_character() -> None:
    message = only_problem("""\
        rules:
          - name: bad
            when: {regex: 'ORD-(\\d{6}'}
            then: {tags: [x]}
        """)
    # line 15: "        when: {regex: 'ORD-(\d{6}'}": the quote is column 23, "(" is column 28
    assert message == ("mapping.yaml:15:28: routes[0].rules[0].when.regex: invalid regular expression: "
                       "missing ), unterminated subpattern at character 5 (Python re syntax, like \\bORD-\\d{6}\\b)")


def test_unknown_condition_and_action_keys_get_a_did_you_mean() -> None:
    found = problems("""\
        rules:
          - name: typo
            when: {keyword: [down]}
            then: {prority: high}
        """)
    assert found[0].startswith("mapping.yaml:15:16: routes[0].rules[0].when: unknown key 'keyword'; "
                               "allowed: network, account, kind, public, keywords,")
    assert found[0].endswith("(did you mean 'keywords'?)")
    assert found[1].startswith("mapping.yaml:16:16: routes[0].rules[0].then: unknown key 'prority'; allowed: ")
    assert found[1].endswith("(did you mean 'priority'?)")


def test_an_action_of_the_other_helpdesk_names_both() -> None:
    zendesk = only_problem("""\
        rules:
          - {name: a, then: {origin: Twitter}}
        """)
    assert zendesk == ("mapping.yaml:14:26: routes[0].rules[0].then.origin: origin is a Salesforce setting, "
                       "but this route writes to Zendesk (helpdesk 'zd'); Zendesk takes: group, priority, "
                       "type, tags, custom_fields, brand, form (Zendesk records the channel itself; a tag or "
                       "a custom field can carry more)")
    salesforce = only_problem("""\
        rules:
          - {name: a, then: {type: incident}}
        """, desk="sf")
    assert salesforce.startswith("mapping.yaml:14:26: routes[0].rules[0].then.type: type is a Zendesk "
                                 "setting, but this route writes to Salesforce (helpdesk 'sf'); Salesforce "
                                 "takes: group, priority, tags, custom_fields, origin, record_type, entitlement, "
                                 "assignment_rule")
    assert "custom_fields: {Type: ...}" in salesforce


def test_the_ticket_block_is_held_to_the_helpdesk_too() -> None:
    assert only_problem("ticket: {record_type: Social_Care}\n").startswith(
        "mapping.yaml:13:14: routes[0].ticket.record_type: record_type is a Salesforce setting")
    assert only_problem("ticket: {form: Social}\n", desk="sf").endswith(
        "(a Case's layout follows its record type: use record_type)")
    assert route("ticket: {origin: null, brand: null}\n", desk="sf").ticket.origin is None


@pytest.mark.parametrize("body, expected", [
    ("rules:\n  - {name: a, then: {priority: asap}}\n",
     "mapping.yaml:14:26: routes[0].rules[0].then.priority: unknown priority 'asap'; "
     "allowed: low, normal, high, urgent"),
    ("rules:\n  - {name: a, then: {type: incdent}}\n",
     "mapping.yaml:14:26: routes[0].rules[0].then.type: unknown ticket type 'incdent'; "
     "allowed: question, incident, problem, task (did you mean 'incident'?)"),
    ("rules:\n  - {name: a, then: {group: null}}\n",
     "mapping.yaml:14:26: routes[0].rules[0].then.group: null sets nothing; give a value, or leave the key "
     "out to keep the route's"),
    ("rules:\n  - {name: a, when: {kind: tweet}, then: {tags: [t]}}\n",
     "mapping.yaml:14:26: routes[0].rules[0].when.kind: unknown kind 'tweet'; "
     "allowed: mention, reply, quote, dm, comment"),
    ("rules:\n  - {name: a, when: {account: brand_y}, then: {tags: [t]}}\n",
     "mapping.yaml:14:26: routes[0].rules[0].when.account: unknown account 'brand_y'; "
     "allowed: brand_x, other_x (did you mean 'brand_x'?)"),
    ("rules:\n  - {name: a, when: {language: english!}, then: {tags: [t]}}\n",
     "mapping.yaml:14:26: routes[0].rules[0].when.language: 'english!' is not a language code; write "
     "BCP-47 codes like en, pt-BR or und (undetermined)"),
    ("rules:\n  - {name: a, when: {metrics_min: {like_cont: 5}}, then: {tags: [t]}}\n",
     "mapping.yaml:14:40: routes[0].rules[0].when.metrics_min: unknown metric 'like_cont'; allowed: "
     "like_count, retweet_count, reply_count, quote_count, bookmark_count, impression_count "
     "(did you mean 'like_count'?)"),
    ("rules:\n  - {name: a, when: {followers_min: 9, followers_max: 3}, then: {tags: [t]}}\n",
     "mapping.yaml:14:44: routes[0].rules[0].when.followers_max: followers_max 3 is below followers_min 9: "
     "no author can match"),
    ("rules:\n  - {name: a, when: {regex: '.*'}, then: {tags: [t]}}\n",
     "mapping.yaml:14:26: routes[0].rules[0].when.regex: '.*' matches an empty text, so it would match "
     "every mention; leave regex out for that"),
    ("rules:\n  - {name: a, when: {public: maybe}, then: {tags: [t]}}\n",
     "mapping.yaml:14:26: routes[0].rules[0].when.public: expected true or false; got a string"),
    ("rules:\n  - {name: a}\n",
     "mapping.yaml:14:9: routes[0].rules[0]: rule 'a' does nothing: give it then: with the fields to set "
     "(priority, group, tags...), or stop: true"),
    ("rules:\n  - {when: {public: true}, then: {tags: [t]}}\n",
     "mapping.yaml:14:9: routes[0].rules[0]: missing required key 'name'"),
    ("rules: {name: a}\n",
     "mapping.yaml:13:5: routes[0].rules: expected a list of rules (each: name, when, then, stop); got a mapping"),
    ("rules_match: any\n",
     "mapping.yaml:13:5: routes[0].rules_match: unknown rules_match 'any'; allowed: all, first"),
])
def test_rule_mistakes_are_reported_where_they_are(body: str, expected: str) -> None:
    assert only_problem(body) == expected


def test_duplicate_rule_names_within_a_route() -> None:
    assert only_problem("""\
        rules:
          - {name: vip, then: {priority: high}}
          - {name: vip, then: {priority: urgent}}
        """) == ("mapping.yaml:15:10: routes[0].rules[1].name: duplicate rule name 'vip' (first at line 14); "
                 "rule names are unique within a route")


def test_every_rule_problem_is_reported_at_once() -> None:
    found = problems("""\
        rules:
          - {name: a, when: {kind: tweet}, then: {priority: asap}}
          - {name: b, when: {regex: '[x'}, then: {origin: X}}
        """)
    assert [p.split(": ")[1] for p in found] == [
        "routes[0].rules[0].when.kind", "routes[0].rules[0].then.priority",
        "routes[0].rules[1].when.regex", "routes[0].rules[1].then.origin"]


# --------------------------------------------------------------------------- guards and viral watch


def test_mirror_guards_parse() -> None:
    mirror = route("""\
        mirror:
          max_age: 72h
          approval: {required: true, tag: lead_ok}
          private_note: "Let's continue in DM."
          pii_patterns:
            - {name: order number, regex: '\\bORD-\\d{6}\\b'}
            - {name: member id, regex: 'M\\d{8}'}
        """).mirror
    assert mirror.max_age == 72 * 3600
    assert mirror.approval == ApprovalConfig(required=True, tag="lead_ok")
    assert mirror.dm_public_note == mirror.private_note == "Let's continue in DM."
    assert [p.name for p in mirror.pii_patterns] == ["order number", "member id"]
    assert mirror.pii_patterns[0].regex.search("your ORD-123456 ships") is not None
    assert mirror.pii_patterns[0].regex.search("ORD-12345") is None


def test_mirror_guard_defaults() -> None:
    mirror = route("mirror: {dm_public_note: Moved to DM}\n").mirror
    assert mirror.max_age is None and mirror.approval == ApprovalConfig(required=False, tag="approved")
    assert mirror.pii_patterns == () and mirror.private_note == "Moved to DM"


def test_mirror_guard_mistakes() -> None:
    found = problems("""\
        mirror:
          dm_public_note: a
          private_note: b
          max_age: 3d
          approval: {required: 1, tag: lead ok}
          pii_patterns:
            - {name: order, regex: 'ORD-(\\d'}
            - {name: order, regex: '\\d*'}
            - {regex: x}
        """)
    assert found == [
        "mapping.yaml:15:7: routes[0].mirror.private_note: private_note and dm_public_note are one setting "
        "(the public note posted when a conversation moves to DM); keep one",
        "mapping.yaml:16:7: routes[0].mirror.max_age: '3d' is not a duration; expected one like 15s, 2m, 1h "
        "or a number of seconds",
        "mapping.yaml:17:18: routes[0].mirror.approval.required: expected true or false; got a number",
        "mapping.yaml:17:31: routes[0].mirror.approval.tag: tag 'lead ok' must not contain spaces or commas",
        "mapping.yaml:19:37: routes[0].mirror.pii_patterns[0].regex: invalid regular expression: missing ), "
        "unterminated subpattern at character 5 (Python re syntax, like \\bORD-\\d{6}\\b)",
        "mapping.yaml:20:12: routes[0].mirror.pii_patterns[1].name: duplicate pattern name 'order' "
        "(first at line 19)",
        "mapping.yaml:20:25: routes[0].mirror.pii_patterns[1].regex: '\\d*' matches an empty text, so it "
        "would hold every reply",
        "mapping.yaml:21:11: routes[0].mirror.pii_patterns[2]: missing required key 'name'",
    ]


def test_viral_watch_parses() -> None:
    viral = route("""\
        viral:
          enabled: true
          refresh: 5m
          thresholds: {like_count: 500, retweet_count: 100}
          velocity: {per_hour: {like_count: 200}}
          priority: high
          tag: went_viral
          spike: {enabled: true, window: 30m, factor: 2.5, min_mentions: 40}
        """).viral
    assert viral == ViralConfig(enabled=True, refresh=300.0, thresholds={"like_count": 500, "retweet_count": 100},
                                velocity_per_hour={"like_count": 200}, priority="high", tag="went_viral",
                                spike=SpikeConfig(enabled=True, window=1800.0, factor=2.5, min_mentions=40))


def test_viral_watch_defaults() -> None:
    viral = route("viral: {thresholds: {quote_count: 20}}\n").viral
    assert not viral.enabled and viral.refresh == 600.0 and viral.priority == "urgent"
    assert viral.tag == "social_viral" and dict(viral.thresholds) == {"quote_count": 20}
    assert viral.spike == SpikeConfig(enabled=False, window=900.0, factor=3.0, min_mentions=20)
    assert route("ticket: {}\n").viral == ViralConfig()


def test_viral_watch_mistakes() -> None:
    found = problems("""\
        viral:
          enabled: true
          refresh: often
          thresholds: {like_cout: 500, reply_count: 0}
          velocity: {per_minute: {like_count: 5}}
          priority: huge
          spike: {window: 0, factor: 0.5, min_mentions: many}
        """)
    assert found == [
        "mapping.yaml:14:7: routes[0].viral.enabled: viral watch is on but has no thresholds or velocity, so "
        "it would never fire; add thresholds: {like_count: 500}, velocity: {per_hour: {like_count: 200}}, or both",
        "mapping.yaml:15:7: routes[0].viral.refresh: 'often' is not a duration; expected one like 15s, 2m, 1h "
        "or a number of seconds",
        "mapping.yaml:16:20: routes[0].viral.thresholds: unknown metric 'like_cout'; allowed: like_count, "
        "retweet_count, reply_count, quote_count, bookmark_count, impression_count (did you mean 'like_count'?)",
        "mapping.yaml:16:36: routes[0].viral.thresholds.reply_count: expected a whole number of at least 1; got 0",
        "mapping.yaml:17:7: routes[0].viral.velocity: missing required key 'per_hour'",
        "mapping.yaml:17:18: routes[0].viral.velocity: unknown key 'per_minute'; allowed: per_hour",
        "mapping.yaml:18:7: routes[0].viral.priority: unknown priority 'huge'; allowed: low, normal, high, urgent "
        "(did you mean 'urgent'?)",
        "mapping.yaml:19:15: routes[0].viral.spike.window: 0: a duration must be a positive, finite time",
        "mapping.yaml:19:26: routes[0].viral.spike.factor: expected a number greater than 1; got 0.5",
        "mapping.yaml:19:39: routes[0].viral.spike.min_mentions: expected a whole number of at least 1; "
        "got 'many'",
    ]


# --------------------------------------------------------------------------- shipped mappings


def test_the_shipped_mappings_carry_rules_guards_and_viral_watch() -> None:
    sample = mention_from_dict(json.loads((ROOT / "examples" / "mention.json").read_text()))
    zendesk = load_config(ROOT / "mapping.yaml", env={}).route("x-support")
    assert zendesk.rules.names == ("outage", "influencer", "private")
    assert zendesk.mirror.max_age == 72 * 3600 and zendesk.viral.enabled
    assert zendesk.mirror.pii_patterns[0].regex.search("ORD-123456")
    result = evaluate(zendesk, sample)
    assert result.fired == ("outage", "influencer")
    assert (result.ticket.priority, result.ticket.group, result.ticket.type) == ("urgent", "Escalations", "incident")
    salesforce = load_config(ROOT / "examples" / "salesforce.yaml", env={}).route("x-support")
    case = evaluate(salesforce, sample).ticket
    assert (case.entitlement, case.assignment_rule, case.record_type) == ("Social Care Premium", True, "Social_Care")


def test_ticket_fields_show_what_each_helpdesk_has() -> None:
    rules = route("ticket: {subject: '{network} {kind} from @{author}: {text}', custom_fields: {Url: '{url}'}}\n")
    fields = ticket_fields(rules.ticket, mention("x" * 80, kind="dm"), "zendesk")
    assert list(fields) == ["subject", "tags", "priority", "group", "type", "brand", "form", "custom_fields"]
    assert fields["subject"] == "X direct message from @ada: " + "x" * 60
    assert fields["custom_fields"] == {"Url": "https://x.com/ada/status/1001"}
    assert "origin" in ticket_fields(rules.ticket, mention(), "salesforce")
    assert "type" not in ticket_fields(rules.ticket, mention(), "salesforce")


# --------------------------------------------------------------------------- sample mentions


def test_a_sample_mention_takes_defaults_for_what_it_leaves_out() -> None:
    sample = mention_from_dict({"network": "x", "id": 7, "kind": "dm", "text": "hi",
                                "author": {"id": "9", "handle": "@bo"}})
    assert (sample.id, sample.conversation_id, sample.author.handle, sample.author.network) == ("7", "7", "bo", "x")
    assert sample.metrics == {} and sample.lang is None and sample.created_at is None and not sample.is_quote
    stamped = mention_from_dict({"network": "x", "id": "1", "kind": "mention", "text": "t",
                                 "author": {"id": "9", "handle": "bo"}, "created_at": "2024-05-01T09:30:00"})
    assert stamped.created_at == datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("data, message", [
    ({"network": "x", "id": "1", "kind": "mention", "author": {"id": "9", "handle": "bo"}},
     "missing required key text"),
    ({"network": "x", "id": "1", "kind": "mention", "text": "t", "author": {"id": "9"}},
     "missing required key author.handle"),
    ({"network": "x", "id": "1", "kind": "post", "text": "t", "author": {"id": "9", "handle": "b"}},
     "kind: 'post' is not a mention kind; allowed: mention, reply, dm, comment"),
    ({"network": "x", "id": "1", "kind": "dm", "txt": "t", "author": {"id": "9", "handle": "b"}},
     "txt: unknown key; allowed: network, id, kind, author, text"),
    ({"network": "x", "id": "1", "kind": "dm", "text": "t", "author": {"id": "9", "handle": "b", "followers": "1k"}},
     "author.followers: expected a whole number or null; got '1k'"),
    ({"network": "x", "id": "1", "kind": "dm", "text": "t", "author": {"id": "9", "handle": "b"},
      "created_at": "yesterday"}, "created_at: expected an ISO 8601 time"),
    ({"network": "x", "id": "1", "kind": "dm", "text": "t", "author": {"id": "9", "handle": "b"},
      "metrics": {"like_count": -1}}, "metrics.like_count: expected a whole number of at least 0; got -1"),
    ([1, 2], "expected a JSON object with network, id, kind, author, text; got list"),
])
def test_a_bad_sample_mention_names_the_key(data: Any, message: str) -> None:
    with pytest.raises(MentionError) as info:
        mention_from_dict(data)
    assert str(info.value).startswith(message)


# --------------------------------------------------------------------------- socialdesk rules explain


SAMPLE = {"network": "x", "id": "77", "kind": "mention", "text": "checkout is down",
          "author": {"id": "5", "handle": "cy", "followers": 20000}, "url": "https://x.com/cy/status/77"}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "mapping.yaml"
    config.write_text(mapping("""\
        ticket: {subject: "{network} {kind} from @{author}", tags: [social], group: Social care}
        rules:
          - {name: outage, when: {keywords: [down]}, then: {priority: high, group: Escalations, tags: [out]}}
          - {name: influencer, when: {followers_min: 10000}, then: {priority: urgent, tags: [vip]}}
        """))
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps(SAMPLE))
    return config, sample


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["rules", "explain", *args])
    except SystemExit as stop:
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ticket_table(out: str) -> dict[str, list[tuple[str, str]]]:
    """The ticket table of the plain text, cut at its header's columns: each field's
    (value, set by) rows (the tags take one row per origin)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(" it gets:"))
    header = lines[start + 1]
    cuts = [header.index(name) for name in ("field", "value", "set by")] + [None]
    table: dict[str, list[tuple[str, str]]] = {}
    name = ""
    for line in lines[start + 2:]:
        if not line.startswith("  "):
            break
        field, value, source = (line[a:b].strip() for a, b in zip(cuts, cuts[1:]))
        name = field or name
        table.setdefault(name, []).append((value, source))
    return table


def test_explain_prints_the_rules_that_fired_and_the_ticket(files: tuple[Path, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    config, sample = files
    code, out, _ = explain(capsys, "--config", str(config), "--mention", str(sample))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "route r: brand_x (x) -> zd (zendesk); rules_match: all; 2 rule(s)"
    assert lines[1] == f"rule 'outage' fired ({config}:15): keyword 'down'"
    assert lines[3] == f"rule 'influencer' fired ({config}:16): 20,000 followers >= 10,000"
    assert "the Zendesk ticket it gets:" in lines
    table = ticket_table(out)
    assert table["subject"] == [("X mention from @cy", "route")]
    assert table["priority"] == [("urgent", "rule 'influencer' (over 'outage')")]
    assert table["group"] == [("Escalations", "rule 'outage'")] and table["type"] == [("-", "")]
    assert "\x1b[" not in out, "no escape codes when not on a terminal"


def test_explain_shows_the_tags_socialdesk_adds_and_where_each_tag_comes_from(
        files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, sample = files
    code, out, _ = explain(capsys, "--config", str(config), "--mention", str(sample))
    assert code == 0
    assert ticket_table(out)["tags"] == [("socialdesk, social_mention", "socialdesk itself"), ("social", "route"),
                                         ("out", "rule 'outage'"), ("vip", "rule 'influencer'")]
    note = out.splitlines()[-1]
    assert note.startswith("socialdesk itself adds socialdesk and social_mention to the tickets it opens")
    assert "tagged socialdesk" in note and note.endswith("also gets social_followup.")
    sample.write_text(json.dumps({**SAMPLE, "kind": "dm", "text": "hi"}))
    _, out, _ = explain(capsys, "--config", str(config), "--mention", str(sample))
    assert ticket_table(out)["tags"][0] == ("socialdesk, social_dm", "socialdesk itself")


def test_explain_json(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, sample = files
    code, out, _ = explain(capsys, "--config", str(config), "--mention", str(sample), "--json")
    body = json.loads(out)
    assert code == 0 and body["route"] == "r" and body["fired"] == ["outage", "influencer"]
    assert body["ticket"]["priority"] == "urgent" and body["ticket"]["tags"] == ["social", "out", "vip"]
    assert body["helpdesk_kind"] == "zendesk" and body["explain"][0].startswith("rule 'outage' fired")


def test_explain_says_when_no_rule_fired(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, sample = files
    sample.write_text(json.dumps({**SAMPLE, "text": "thanks!", "author": {"id": "5", "handle": "cy"}}))
    code, out, _ = explain(capsys, "--config", str(config), "--mention", str(sample))
    assert code == 0 and "no rule fired" in out
    assert ticket_table(out)["priority"] == [("normal", "route")]


@pytest.mark.parametrize("content, expected", [
    ('{"network": "x",', "sample.json:1:17: not valid JSON: Expecting property name enclosed in double quotes"),
    (json.dumps({k: v for k, v in SAMPLE.items() if k != "author"}), "sample.json: missing required key author"),
    (json.dumps({**SAMPLE, "author": {"handle": "cy"}}), "sample.json: missing required key author.id"),
])
def test_explain_refuses_a_bad_sample_naming_file_and_key(files: tuple[Path, Path], content: str, expected: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    config, sample = files
    sample.write_text(content)
    code, out, err = explain(capsys, "--config", str(config), "--mention", str(sample))
    assert code == 2 and out == ""
    assert expected in err


def test_explain_route_choice(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, sample = files
    code, _, err = explain(capsys, "--config", str(config), "--mention", str(sample), "--route", "q")
    assert code == 2 and "unknown route 'q'" in err
    sample.write_text(json.dumps({**SAMPLE, "network": "facebook"}))
    code, _, err = explain(capsys, "--config", str(config), "--mention", str(sample))
    assert code == 2 and "no route in" in err and "reads a 'facebook' network" in err


def test_explain_shows_the_salesforce_fields_on_a_salesforce_route(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sf.yaml"
    config.write_text(mapping("""\
        ticket: {origin: Social}
        rules:
          - {name: vip, when: {followers_min: 1000}, then: {entitlement: Premium, assignment_rule: false}}
        """, desk="sf"))
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps(SAMPLE))
    code, out, _ = explain(capsys, "--config", str(config), "--mention", str(sample))
    assert code == 0 and "the Salesforce case it gets:" in out
    table = ticket_table(out)
    assert table["origin (Case.Origin)"] == [("Social", "route")]
    assert table["entitlement"] == [("Premium", "rule 'vip'")] and table["assignment_rule"] == [("false", "rule 'vip'")]
    assert table["tags (Case.Social_Tags__c)"] == [("socialdesk, social_mention", "socialdesk itself")]
    assert "type" not in table and "brand" not in table
    assert "ticket" not in out, "a Salesforce route makes cases"
    assert out.splitlines()[-1].startswith("socialdesk itself adds socialdesk and social_mention to the cases")


def test_explain_runs_as_a_command_on_the_shipped_mapping_and_sample() -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "rules", "explain", "--config", "mapping.yaml",
                           "--mention", "examples/mention.json"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "rule 'outage' fired (mapping.yaml:" in done.stdout
    assert "rule 'influencer' fired" in done.stdout and "rule 'private' fired" not in done.stdout
    table = ticket_table(done.stdout)
    assert table["priority"][0][0] == "urgent" and table["group"][0][0] == "Escalations"
    assert table["tags"][0] == ("socialdesk, social_mention", "socialdesk itself")


# --------------------------------------------------------------------------- purity


def test_rules_module_does_no_io_and_imports_no_vendor() -> None:
    tree = ast.parse((ROOT / "sync" / "rules.py").read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    ours = {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names}
    assert ours == {"adapters.base", "sync.config"}
    assert not {"os", "io", "pathlib", "socket", "subprocess", "logging"} & {m.split(".")[0] for m in modules}
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "open" not in called and "print" not in called
