"""``socialdesk rules explain``: which rules a sample mention fires on a route, and the ticket it gets."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.common import EXIT_CONFIG, load_mapping


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
    network_kind = config.networks[route.network].kind
    if args.json:
        print(json.dumps({"route": route.name, "network": route.network, "helpdesk": route.helpdesk,
                          "helpdesk_kind": desk_kind, "rules_match": route.rules_match,
                          "fired": list(evaluation.fired), "stopped_by": evaluation.stopped_by,
                          "explain": evaluation.explain(), "ticket": fields}, default=str))
        return 0
    print(f"route {route.name}: {route.network} ({network_kind}) -> {route.helpdesk} ({desk_kind}); "
          f"rules_match: {route.rules_match}; {len(route.rules)} rule(s)")
    if network_kind != mention.network:
        print(f"  note: this route reads {network_kind}; the mention is from {mention.network}")
    for line in evaluation.explain():
        print(line)
    print("ticket:")
    for key, value in fields.items():
        if key == "custom_fields":
            print("  custom fields:" + ("" if value else " (none)"))
            for name, field_value in value.items():
                print(f"    {name}: {field_value}")
        elif key == "tags":
            print(f"  tags: {', '.join(value) if value else '(none)'}")
        else:
            shown = "-" if value is None else ("true" if value is True else "false" if value is False else value)
            print(f"  {key}: {shown}")
    return 0
