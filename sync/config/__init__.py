"""mapping.yaml -> typed, validated configuration.

Every problem is reported at once, each as ``FILE:LINE:COL: path: what is wrong; what is
allowed``, so an admin fixes a mapping in one pass. Secrets are referenced by env-var name
(``token: {env: NAME}``) or by the file holding them (``token: {file: PATH}``), become ``Secret`` objects, and never appear in a repr or an error.

The mapping's shape is a set of pydantic models (``schema``: ``json_schema()`` for editors);
what the rest of socialdesk reads are the frozen values of ``sync.config.values``.
"""
from __future__ import annotations

from typing import Any

from sync.config.constants import (
    ACTION_KEYS, CONDITION_KEYS, DEFAULT_APPROVAL_TAG, DEFAULT_DM_PUBLIC_NOTE, DEFAULT_HISTORY, DEFAULT_LISTEN,
    DEFAULT_POLL, DEFAULT_STATE_URL, DEFAULT_SUBJECT, DEFAULT_VIRAL_REFRESH, DEFAULT_VIRAL_TAG, COMMON_TICKET_KEYS,
    METRICS, PLACEHOLDERS, POLL_KEYS, PRIORITIES, RULE_KINDS, RULE_NETWORKS, RULES_MATCH, STATE_SCHEMES, STREAMS,
    SUPPORTED_VERSIONS, TEXT_PLACEHOLDER_LEN, TICKET_TYPES, owner_of, understood_by,
)
from sync.config.loading import load_config, parse_config
from sync.config.text import duration, render_template, template_problem
from sync.config.values import (
    ApprovalConfig, Config, ConfigError, EndpointConfig, EnvRef, IncludeConfig, MirrorConfig, PiiPattern,
    PollConfig, ReadBudgetConfig, RouteConfig, Rule, RuleActions, RuleConditions, RuleSet, SpikeConfig, TicketTemplate,
    ViralConfig, WebhookConfig,
)


def json_schema() -> dict[str, Any]:
    """The mapping's JSON Schema (draft 2020-12), generated from the models."""
    from sync.config.schema import json_schema as generate

    return generate()


__all__ = [
    "ApprovalConfig", "Config", "ConfigError", "EndpointConfig", "EnvRef", "IncludeConfig",
    "MirrorConfig", "PiiPattern", "PollConfig", "ReadBudgetConfig", "RouteConfig", "Rule", "RuleActions",
    "RuleConditions", "RuleSet", "SpikeConfig", "TicketTemplate", "ViralConfig", "WebhookConfig",
    "duration", "json_schema", "load_config", "parse_config", "render_template", "template_problem",
    "ACTION_KEYS", "CONDITION_KEYS", "COMMON_TICKET_KEYS", "owner_of", "understood_by", "METRICS", "PLACEHOLDERS", "PRIORITIES",
    "RULE_KINDS", "RULE_NETWORKS", "RULES_MATCH", "STREAMS", "TICKET_TYPES", "DEFAULT_STATE_URL",
    "DEFAULT_APPROVAL_TAG", "DEFAULT_DM_PUBLIC_NOTE", "DEFAULT_HISTORY", "DEFAULT_LISTEN", "DEFAULT_POLL",
    "DEFAULT_SUBJECT", "DEFAULT_VIRAL_REFRESH", "DEFAULT_VIRAL_TAG", "POLL_KEYS", "STATE_SCHEMES",
    "SUPPORTED_VERSIONS", "TEXT_PLACEHOLDER_LEN",
]
