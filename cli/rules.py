"""``socialdesk rules explain``: which rules a sample mention fires on a route, and the ticket it gets."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.text import Text

from cli.common import EXIT_CONFIG, load_mapping
from cli.output import show, table


def _sample_mention(path: str) -> Any:
    """The Mention written in a JSON file; exit 2 naming the file and the key when it cannot be read."""
    from sync.rules import MentionError, mention_from_dict

    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except OSError as err:
        print(f"socialdesk: {path}: cannot read the mention: {err.strerror or err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    except json.JSONDecodeError as err:
        print(f"socialdesk: {path}:{err.lineno}:{err.colno}: not valid JSON: {err.msg}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    except UnicodeDecodeError:
        print(f"socialdesk: {path}: the mention file is not UTF-8 text", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    try:
        return mention_from_dict(data)
    except MentionError as err:
        print(f"socialdesk: {path}: {err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def _explained_route(config: Any, mention: Any, name: str | None) -> Any:
    """``--route NAME``, else the first route reading the mention's network (and stream, if one does)."""
    if name:
        try:
            return config.route(name)
        except KeyError as err:
            print(f"socialdesk: {err.args[0]}", file=sys.stderr)
            raise SystemExit(EXIT_CONFIG)
    candidates = [r for r in config.routes if config.networks[r.network].kind == mention.network]
    if not candidates:
        kinds = sorted({config.networks[r.network].kind for r in config.routes})
        print(f"socialdesk: no route in {config.source} reads a {mention.network!r} network "
              f"(routes read: {', '.join(kinds)}); give --route NAME to evaluate one anyway", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    stream = "dms" if mention.kind == "dm" else "mentions"
    return next((r for r in candidates if stream in r.streams), candidates[0])


def cmd_rules_explain(args: argparse.Namespace) -> int:
    """Evaluate the route's rules on the sample mention; print what fired and the ticket's fields."""
    from sync.rules import evaluate, ticket_fields

    config = load_mapping(args.config, allow_missing_env=True)
    mention = _sample_mention(args.mention)
    route = _explained_route(config, mention, args.route)
    evaluation = evaluate(route, mention)
    desk_kind = config.helpdesks[route.helpdesk].kind
    fields = ticket_fields(evaluation.ticket, mention, desk_kind)
    if args.json:
        print(json.dumps({"route": route.name, "network": route.network, "helpdesk": route.helpdesk,
                          "helpdesk_kind": desk_kind, "rules_match": route.rules_match,
                          "fired": list(evaluation.fired), "stopped_by": evaluation.stopped_by,
                          "explain": evaluation.explain(), "ticket": fields}, default=str))
        return 0
    show(*_explained(config, route, mention, evaluation, fields))
    return 0


def _explained(config: Any, route: Any, mention: Any, evaluation: Any, fields: dict[str, Any]) -> list[Any]:
    """What ``rules explain`` prints: the route, the rules that fired and why, the ticket."""
    desk = config.helpdesks[route.helpdesk]
    network_kind = config.networks[route.network].kind
    parts: list[Any] = [f"route {route.name}: {route.network} ({network_kind}) -> {route.helpdesk} ({desk.kind}); "
                        f"rules_match: {route.rules_match}; {len(route.rules)} rule(s)"]
    if network_kind != mention.network:
        parts.append(f"  note: this route reads {network_kind}; the mention is from {mention.network}")
    parts += [Text(line, style="green" if " fired" in line and line.startswith("rule ") else "")
              for line in evaluation.explain()]
    added, followup = engine_tags(mention, fields["tags"])
    noun = _noun(desk)
    parts += ["", Text(f"the {desk.kind.title()} {noun} it gets:", style="bold"),
              table(_field_rows(route, evaluation, fields, desk, added), headers=("field", "value", "set by"),
                    indent=2),
              _tags_note(desk, noun, added, followup)]
    return parts


def _tags_note(desk: Any, noun: str, added: list[str], followup: list[str]) -> str:
    """Why socialdesk's own tags are there, in the helpdesk's words."""
    where = (f", in Case.{_tags_field(desk)} (Cases have no tags)" if desk.kind == "salesforce" else
             f"; the trigger 'socialdesk setup' makes fires only on tickets tagged {added[0]}")
    return (f"socialdesk itself adds {' and '.join(added)} to the {noun}s it opens for such a post{where}. "
            f"A follow-up of a closed {noun} also gets {', '.join(followup)}.")


def engine_tags(mention: Any, tags: list[str]) -> tuple[list[str], list[str]]:
    """The tags the engine adds to a ticket with ``tags`` for ``mention`` (asked of the engine's
    own composer, so this never drifts from what the daemon writes), and those a follow-up adds."""
    from adapters.base import TicketRef
    from sync.ingest.composer import TicketComposer
    from sync.settings import RouteSettings, TicketSettings

    composer = TicketComposer(RouteSettings(name="explain", helpdesk_name="explain",
                                            ticket=TicketSettings(tags=tuple(tags))), None)
    first = composer.new_ticket(mention, "", None).tags
    again = composer.new_ticket(mention, "", TicketRef(helpdesk="explain", id="1", status="closed")).tags
    return [t for t in first if t not in tags], [t for t in again if t not in first]


def _noun(desk: Any) -> str:
    return "case" if desk.kind == "salesforce" else "ticket"


# How a ticket setting is called on each helpdesk when its name there differs.
_LABELS = {"salesforce": {"group": "group (Case owner)", "origin": "origin (Case.Origin)"}}


def _field_rows(route: Any, evaluation: Any, fields: dict[str, Any], desk: Any,
                added: list[str]) -> list[tuple[Any, ...]]:
    """One row per field: its name, its value, and what set it (the route, a rule, socialdesk)."""
    labels = _LABELS.get(desk.kind, {})
    rows: list[tuple[Any, ...]] = []
    for key, value in fields.items():
        if key == "tags":
            rows += _tag_rows(route, evaluation, value, added, _tags_label(desk))
        elif key == "custom_fields":
            rows += [(f"{name} (custom field)", field_value, _set_by(route, evaluation, "custom_fields", name))
                     for name, field_value in value.items()]
        else:
            rows.append((labels.get(key, key), value, _set_by(route, evaluation, key)))
    return rows


def _tags_label(desk: Any) -> str:
    return f"tags (Case.{_tags_field(desk)})" if desk.kind == "salesforce" else "tags"


def _tags_field(desk: Any) -> str:
    """The Case field a Salesforce helpdesk keeps tags in (its ``tags_field`` setting)."""
    return str(desk.settings.get("tags_field") or "Social_Tags__c")


def _tag_rows(route: Any, evaluation: Any, tags: list[str], added: list[str], label: str) -> list[tuple[Any, ...]]:
    """The tags by where they come from: socialdesk's own first, then the route's, then each rule's."""
    groups = [(added, Text("socialdesk itself", style="cyan"))]
    groups.append(([t for t in route.ticket.tags if t in tags], "route"))
    seen = set(route.ticket.tags)
    for step in evaluation.steps:
        mine = [t for t in step.actions.tags if t not in seen and t in tags]
        seen.update(mine)
        groups.append((mine, f"rule {step.rule!r}"))
    rows = [(label if not i else "", ", ".join(group), source)
            for i, (group, source) in enumerate(g for g in groups if g[0])]
    return rows or [(label, None, "")]


def _set_by(route: Any, evaluation: Any, key: str, custom: str | None = None) -> str:
    """The last rule that set ``key`` (or the custom field ``custom``), over the earlier ones; else the route."""
    def sets(actions: Any) -> bool:
        value = getattr(actions, key, None)
        return custom in {str(k) for k in value} if custom is not None else value is not None

    setters = [step.rule for step in evaluation.steps if sets(step.actions)]
    if not setters:
        return "route" if sets(route.ticket) else ""
    over = f" (over {', '.join(repr(r) for r in setters[:-1])})" if len(setters) > 1 else ""
    return f"rule {setters[-1]!r}{over}"
