"""mapping.yaml -> Config: the shipped example loads, and every mistake is reported with
FILE:LINE:COL, the setting's path and what is allowed - all of them at once, no secret shown."""
from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

import pytest

import adapters

from adapters.base import Secret
from sync.config import (
    Config, ConfigError, EnvRef, PollConfig, duration, load_config, parse_config, render_template,
)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "zd-token-9f8e7d6c5b4a"
X_TOKEN = "x-token-0a1b2c3d4e5f"
ENV = {"SOCIALDESK_ZENDESK_TOKEN": TOKEN, "SOCIALDESK_X_TOKEN": X_TOKEN,
       "SOCIALDESK_WEBHOOK_SECRET": "whsec-123456789", "SOCIALDESK_ZENDESK_CLIENT_SECRET": TOKEN,
       "SOCIALDESK_X_CLIENT_SECRET": X_TOKEN}

PRODUCTION = """\
version: 1
helpdesks:
  acme:
    kind: zendesk
    url: https://acme.zendesk.com
    email: socialdesk@acme.example
    token: {env: SOCIALDESK_ZENDESK_TOKEN}
networks:
  brand_x:
    kind: x
    token: {env: SOCIALDESK_X_TOKEN}
routes:
  - name: x-support
    network: brand_x
    helpdesk: acme
webhook:
  secret: {env: SOCIALDESK_WEBHOOK_SECRET}
"""


def parse(text: str, env: dict[str, str] | None = None, **kwargs: object) -> Config:
    return parse_config(textwrap.dedent(text), "mapping.yaml", ENV if env is None else env, **kwargs)


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return info.value.problems


def only_problem(text: str, env: dict[str, str] | None = None) -> str:
    found = problems(text, env)
    assert len(found) == 1, found
    return found[0]


def with_route(route: str, head: str = "") -> str:
    """A valid sandbox mapping whose only route is ``route`` (lines 10 onwards)."""
    return ("version: 1\n"                              # 1
            "helpdesks:\n"                              # 2
            "  sandbox_zendesk: {kind: zendesk, sandbox: true}\n"  # 3
            "networks:\n"                               # 4
            "  brand_x:\n"                              # 5
            "    kind: x\n"                             # 6
            "    sandbox: true\n"                       # 7
            f"{head or '# -'}\n"                        # 8
            "routes:\n"                                 # 9
            + textwrap.indent(textwrap.dedent(route), "  "))


# --------------------------------------------------------------------------- valid


def test_the_shipped_mapping_loads() -> None:
    config = load_config(ROOT / "mapping.yaml", env={})
    assert config.version == 1
    assert config.state_url == f"sqlite:///{ROOT / 'socialdesk.sqlite'}", "a relative SQLite file is beside the mapping"
    assert config.uses_sandbox and config.missing_env == ()
    assert config.networks["brand_x"].kind == "x" and config.networks["brand_x"].sandbox
    assert config.helpdesks["sandbox_zendesk"].kind == "zendesk"
    route = config.route("x-support")
    assert (route.network, route.helpdesk) == ("brand_x", "sandbox_zendesk")
    assert route.streams == ("mentions", "dms")
    assert route.poll == PollConfig(mentions=30.0, dms=60.0, search=300.0, replies=30.0)
    assert route.ticket.tags == ("social", "x") and route.ticket.priority == "normal"
    assert route.ticket.group == "Social care"
    assert dict(route.ticket.custom_fields) == {"Social network": "x", "Social post URL": "{url}"}
    assert route.mirror.enabled and route.mirror.dm_tag == "social_dm"
    assert route.ticket.type == "question" and route.rules_match == "all"
    assert route.rules.names == ("outage", "influencer", "private")
    assert route.rules.rules[0].then.group == "Escalations"
    assert route.mirror.max_age == 72 * 3600 and not route.mirror.approval.required
    assert [p.name for p in route.mirror.pii_patterns] == ["order number"]
    assert route.viral.enabled and route.viral.thresholds["like_count"] == 500


def test_the_shipped_salesforce_example_loads() -> None:
    config = load_config(ROOT / "examples" / "salesforce.yaml", env={})
    assert config.helpdesks["sandbox_salesforce"].kind == "salesforce"
    route = config.route("x-support")
    assert (route.ticket.origin, route.ticket.record_type, route.ticket.type) == ("Social", "Social_Care", None)
    assert route.ticket.entitlement == "Social Care Standard"
    assert route.rules.names == ("outage", "private", "influencer")
    assert route.rules.rules[2].then.entitlement == "Social Care Premium"
    assert route.mirror.max_age == 72 * 3600 and route.viral.enabled


def test_ticket_fields_of_one_helpdesk_are_refused_on_the_other() -> None:
    found = problems(with_route("""\
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          ticket: {type: task, origin: Social, assignment_rule: true, entitlement: Gold}
        """))
    assert [p.split(": ")[1] for p in found] == [
        "routes[0].ticket.origin", "routes[0].ticket.assignment_rule", "routes[0].ticket.entitlement"]
    assert found[0].startswith("mapping.yaml:13:26: routes[0].ticket.origin: origin is a Salesforce setting, "
                               "but this route writes to Zendesk (helpdesk 'sandbox_zendesk')")


def test_the_shipped_production_example_loads_once_uncommented() -> None:
    text = (ROOT / "mapping.yaml").read_text()
    block = text.split("production example", 1)[1].splitlines()
    yaml_lines = block[block.index("#") + 1:]  # after the prose, the commented-out YAML
    body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in yaml_lines)
    config = parse_config("version: 1\n" + body, "mapping.yaml", ENV)
    acme = config.helpdesks["acme"]
    assert acme.settings["auth"] == "oauth" and acme.settings["client_id"] == "socialdesk"
    assert acme.settings["client_secret"] == Secret(TOKEN, "SOCIALDESK_ZENDESK_CLIENT_SECRET")
    assert config.networks["acme_x"].settings["auth"] == "oauth2"
    assert not config.uses_sandbox


def test_defaults_and_secrets_resolve() -> None:
    config = parse(PRODUCTION)
    route = config.routes[0]
    assert route.streams == ("mentions", "dms") and route.search_query is None
    assert route.include.quotes and not route.include.own_posts and not route.include.reposts
    assert route.ticket.subject == "{network} {kind} from @{author}"
    assert route.mirror.dm_public_note == "We've sent you a direct message."
    token = config.helpdesks["acme"].settings["token"]
    assert isinstance(token, Secret) and token.reveal() == TOKEN and token.name == "SOCIALDESK_ZENDESK_TOKEN"
    assert config.helpdesks["acme"].settings["url"] == "https://acme.zendesk.com"
    assert config.webhook is not None and config.webhook.listen == "127.0.0.1:8787"
    assert isinstance(config.webhook.secret, Secret)
    assert config.state_url == "sqlite:///socialdesk.sqlite"


def test_missing_env_is_kept_unresolved_for_check() -> None:
    config = parse(PRODUCTION, env={}, allow_missing_env=True)
    names = [ref.name for ref in config.missing_env]
    assert names == ["SOCIALDESK_ZENDESK_TOKEN", "SOCIALDESK_X_TOKEN", "SOCIALDESK_WEBHOOK_SECRET"]
    assert config.missing_env[0].where == "mapping.yaml:7:5: helpdesks.acme.token"
    assert isinstance(config.helpdesks["acme"].settings["token"], EnvRef)


def test_anchors_and_merge_keys_work() -> None:
    # Top-level keys are fixed, so anchors live where they are used.
    config = parse(with_route("""\
        - name: a
          network: brand_x
          helpdesk: sandbox_zendesk
          streams: [mentions]
          ticket: &ticket {tags: [social], priority: low}
        - name: b
          network: brand_x
          helpdesk: sandbox_zendesk
          streams: [dms]
          ticket:
            <<: *ticket
            priority: high
        """), env={})
    assert config.route("b").ticket.tags == ("social",)
    assert config.route("b").ticket.priority == "high"
    assert config.route("a").ticket.priority == "low"


def test_config_route_lookup() -> None:
    config = parse(PRODUCTION)
    assert config.route("x-support").name == "x-support"
    with pytest.raises(KeyError, match="did you mean 'x-support'"):
        config.route("x-suport")


# --------------------------------------------------------------------------- errors


def test_unknown_key_names_the_allowed_ones() -> None:
    message = only_problem(with_route("""\
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          strems: [mentions]
        """))
    assert message.startswith("mapping.yaml:13:5: routes[0]: unknown key 'strems'; allowed: name, network, ")
    assert message.endswith("(did you mean 'streams'?)")


def test_unknown_top_level_key() -> None:
    message = only_problem(PRODUCTION + "rotues: []\n")
    assert message.startswith("mapping.yaml:18:1: unknown key 'rotues'; allowed: version, state, ")
    assert "(did you mean 'routes'?)" in message


def test_unknown_setting_lists_the_adapter_schema() -> None:
    message = only_problem(PRODUCTION.replace("    email:", "    emial: x\n    email:"))
    schema = ", ".join(adapters.resolve("zendesk").settings_schema)
    assert schema.startswith("url, auth, client_id, client_secret, scope, email, token, ca_bundle")
    assert message == ("mapping.yaml:6:5: helpdesks.acme: unknown setting 'emial' for kind zendesk; "
                       f"allowed: kind, sandbox, {schema} (did you mean 'email'?)")


def test_unknown_kind_with_did_you_mean() -> None:
    message = only_problem(PRODUCTION.replace("kind: zendesk", "kind: zendsk"))
    assert message == ("mapping.yaml:4:5: helpdesks.acme.kind: unknown helpdesk kind 'zendsk'; "
                       f"known: {', '.join(adapters.kinds('helpdesk'))} (did you mean 'zendesk'?)")


def test_kind_of_the_other_role() -> None:
    message = only_problem(PRODUCTION.replace("kind: zendesk", "kind: x"))
    assert message.startswith("mapping.yaml:4:5: helpdesks.acme.kind: 'x' is a social adapter, not a helpdesk one;")
    assert f"known helpdesk kinds: {', '.join(adapters.kinds('helpdesk'))}" in message


def test_missing_required_settings() -> None:
    text = PRODUCTION.replace("    url: https://acme.zendesk.com\n", "")
    message = only_problem(text)
    assert message.startswith("mapping.yaml:3:3: helpdesks.acme: missing required setting url "
                              "for kind zendesk (required: url;")


@pytest.mark.parametrize("settings, expected", [
    ("", "zendesk: auth oauth needs client_id"),
    ("    auth: api_token\n    email: bot@acme.example\n", "zendesk: auth api_token needs token"),
    ("    auth: client_credentials\n    client_id: socialdesk\n",
     "zendesk: auth client_credentials needs client_secret"),
    ("    auth: password\n", "zendesk: auth 'password': use oauth, client_credentials, api_token"),
])
def test_the_way_an_endpoint_signs_in_needs_its_own_settings(settings: str, expected: str) -> None:
    text = PRODUCTION.replace("    email: socialdesk@acme.example\n", "").replace(
        "    token: {env: SOCIALDESK_ZENDESK_TOKEN}\n", settings)
    assert only_problem(text) == f"mapping.yaml:3:3: helpdesks.acme: {expected}"


def test_sandbox_endpoint_takes_no_settings() -> None:
    message = only_problem(PRODUCTION.replace("    kind: x\n", "    kind: x\n    sandbox: true\n"))
    assert message.startswith("mapping.yaml:12:5: networks.brand_x: a sandbox endpoint takes no settings, "
                              "got 'token'")


@pytest.mark.parametrize("value, expected", [
    ("soon", "mapping.yaml:14:7: routes[0].poll.mentions: 'soon' is not a duration; "
             "expected one like 15s, 2m, 1h or a number of seconds"),
    ("-5", "mapping.yaml:14:7: routes[0].poll.mentions: -5: a duration must be a positive, finite time"),
    ("[1]", "mapping.yaml:14:7: routes[0].poll.mentions: expected a duration like 15s, 2m, 1h "
            "or a number of seconds; got a list"),
])
def test_bad_duration(value: str, expected: str) -> None:
    assert only_problem(with_route(f"""\
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          poll:
            mentions: {value}
        """)) == expected


def test_poll_faster_than_the_adapter_minimum_names_it() -> None:
    assert only_problem(with_route("""\
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          poll: {mentions: 5s, dms: 2m}
        """)) == "mapping.yaml:13:12: routes[0].poll.mentions: 5s is faster than x allows; minimum: 15s"


def test_literal_secret_is_refused_without_echoing_it() -> None:
    message = only_problem(PRODUCTION.replace("{env: SOCIALDESK_ZENDESK_TOKEN}", TOKEN))
    assert message == ("mapping.yaml:7:5: helpdesks.acme.token: token is a secret: do not write it in the "
                       "mapping; put it in an environment variable and write "
                       "token: {env: SOCIALDESK_ZENDESK_TOKEN} (or in a file: token: {file: PATH})")
    assert TOKEN not in message


def test_literal_webhook_secret_is_refused() -> None:
    message = only_problem(PRODUCTION.replace("{env: SOCIALDESK_WEBHOOK_SECRET}", "whsec-literal"))
    assert message.startswith("mapping.yaml:17:3: webhook.secret: secret is a secret: do not write it")
    assert "whsec-literal" not in message


def test_a_value_pasted_as_env_name_is_not_echoed() -> None:
    message = only_problem(PRODUCTION.replace("{env: SOCIALDESK_X_TOKEN}", "{env: 'abc-123.def/ghi'}"))
    assert message.startswith("mapping.yaml:11:5: networks.brand_x.token: env: expects the NAME")
    assert "abc-123" not in message


def test_missing_env_var_names_it_and_where() -> None:
    env = {k: v for k, v in ENV.items() if k != "SOCIALDESK_X_TOKEN"}
    assert only_problem(PRODUCTION, env=env) == (
        "mapping.yaml:11:5: networks.brand_x.token: environment variable SOCIALDESK_X_TOKEN is not set")


def test_duplicate_route_name() -> None:
    assert only_problem(with_route("""\
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          streams: [mentions]
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          streams: [dms]
        """)) == ("mapping.yaml:14:5: routes[1].name: duplicate route name 'x-support' "
                  "(first at line 10); route names must be unique")


def test_one_stream_goes_to_one_route() -> None:
    message = only_problem(with_route("""\
        - name: a
          network: brand_x
          helpdesk: sandbox_zendesk
        - name: b
          network: brand_x
          helpdesk: sandbox_zendesk
          streams: [dms, search]
        """))
    assert message == ("mapping.yaml:16:5: routes[1].streams: network 'brand_x' stream 'dms' is already "
                       "routed by route 'a'; each stream of an account goes to one route")


def test_unknown_network_and_helpdesk_references() -> None:
    found = problems(with_route("""\
        - name: x-support
          network: brnd_x
          helpdesk: zendesk
        """))
    assert found == [
        "mapping.yaml:11:5: routes[0].network: unknown network 'brnd_x'; known: brand_x "
        "(did you mean 'brand_x'?)",
        "mapping.yaml:12:5: routes[0].helpdesk: unknown helpdesk 'zendesk'; known: sandbox_zendesk "
        "(did you mean 'sandbox_zendesk'?)",
    ]


def test_bad_priority() -> None:
    assert only_problem(with_route("""\
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          ticket: {priority: urgnt}
        """)) == ("mapping.yaml:13:14: routes[0].ticket.priority: unknown priority 'urgnt'; "
                  "allowed: low, normal, high, urgent (did you mean 'urgent'?)")


def test_unknown_template_placeholder() -> None:
    found = problems(with_route("""\
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          ticket:
            subject: "{network} from {autor}"
            custom_fields:
              Social post URL: "{link}"
              12345: "{author_name}"
        """))
    allowed = "allowed: {network}, {kind}, {author}, {author_name}, {text}, {id}, {url}, {reply_deadline}"
    assert found == [
        f"mapping.yaml:14:7: routes[0].ticket.subject: unknown placeholder {{autor}}; {allowed} "
        "(did you mean 'author'?)",
        f"mapping.yaml:16:9: routes[0].ticket.custom_fields['Social post URL']: "
        f"unknown placeholder {{link}}; {allowed}",
    ]


def test_unbalanced_template_braces() -> None:
    assert "bad template" in only_problem(with_route("""\
        - name: x-support
          network: brand_x
          helpdesk: sandbox_zendesk
          ticket: {subject: "from {author"}
        """))


@pytest.mark.parametrize("version, expected", [
    ("2", "mapping.yaml:1:1: version: unsupported version 2; supported: 1"),
    ("'1'", "mapping.yaml:1:1: version: unsupported version '1'; supported: 1"),
])
def test_wrong_version_stops_early(version: str, expected: str) -> None:
    # The rest of a file in another format would only produce noise.
    assert problems(f"version: {version}\nroutes: nonsense\nfoo: 1\n") == [expected]


def test_missing_version() -> None:
    assert problems("routes: []\n") == [
        "mapping.yaml:1:1: missing required key 'version'; this socialdesk reads version: 1"]


def test_yaml_syntax_error_has_file_line_col_and_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text("version: 1\nhelpdesks:\n  acme:\n    kind: zendesk\n   token: hunter2-literal\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}:5:4: YAML syntax error: ")
    assert "hunter2" not in message


def test_duplicate_yaml_key() -> None:
    message = only_problem(PRODUCTION.replace("    email:", "    url: https://b.zendesk.com\n    email:"))
    assert message == "mapping.yaml:6:5: helpdesks.acme: duplicate key 'url' (first at line 5)"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the mapping file"):
        load_config(tmp_path / "nope.yaml")


def test_state_url_with_a_password_is_refused() -> None:
    message = only_problem("state: postgresql+psycopg://sd:pa55word@db/sd\n" + PRODUCTION)
    assert message.startswith("mapping.yaml:1:1: state: the URL carries a password")
    assert "pa55word" not in message


def test_several_problems_are_reported_at_once_in_file_order() -> None:
    text = PRODUCTION.replace("kind: zendesk", "kind: zendsk").replace(
        "helpdesk: acme", "helpdesk: acme\n    streams: [mentions, dm]\n    ticket: {priority: hgh}")
    with pytest.raises(ConfigError) as info:
        parse(text, env={})
    found = info.value.problems
    assert [p.split(": ", 2)[1] for p in found] == [
        "helpdesks.acme.kind", "networks.brand_x.token", "routes[0].streams[1]",
        "routes[0].ticket.priority", "webhook.secret"]
    assert str(info.value).startswith("5 problems:\n  mapping.yaml:4:5: helpdesks.acme.kind")
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines)


# --------------------------------------------------------------------------- secrets


def test_secret_values_never_appear_in_repr_or_str() -> None:
    config = parse(PRODUCTION)
    for shown in (repr(config), str(config), repr(config.helpdesks["acme"]),
                  repr(config.networks), repr(config.webhook)):
        for value in ENV.values():
            assert value not in shown
    assert "Secret(SOCIALDESK_ZENDESK_TOKEN=****)" in repr(config.helpdesks["acme"])


def test_secret_values_never_appear_in_error_messages() -> None:
    text = PRODUCTION.replace("https://acme.zendesk.com", "ftp://acme") + "bogus: 1\n"
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert len(info.value.problems) == 2
    for value in ENV.values():
        assert value not in str(info.value)


# --------------------------------------------------------------------------- secrets in files

STATE_URL = "postgresql+psycopg://socialdesk:pg-pass-77c1@db.internal:5432/socialdesk"


def test_secrets_are_read_from_files_relative_to_the_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """{file: PATH} beside {env: NAME}: a relative PATH is in the mapping's folder, not the
    current one; the line break that ends the file is not part of the value."""
    folder = tmp_path / "etc"
    (folder / "secrets").mkdir(parents=True)
    (folder / "secrets" / "zendesk_token").write_text(TOKEN + "\n")
    (folder / "secrets" / "state_url").write_text(STATE_URL + "\r\n")
    x_token = tmp_path / "elsewhere" / "x_token"
    x_token.parent.mkdir()
    x_token.write_text(X_TOKEN)
    mapping = folder / "mapping.yaml"
    mapping.write_text(PRODUCTION.replace("{env: SOCIALDESK_ZENDESK_TOKEN}", "{file: secrets/zendesk_token}")
                       .replace("{env: SOCIALDESK_X_TOKEN}", f"{{file: {x_token}}}")
                       + "state: {file: secrets/state_url}\n")
    monkeypatch.chdir(tmp_path)   # secrets/zendesk_token is not here: only the mapping's folder has it
    config = load_config(mapping, env={"SOCIALDESK_WEBHOOK_SECRET": "whsec-123456789"})
    token = config.helpdesks["acme"].settings["token"]
    assert isinstance(token, Secret) and token.reveal() == TOKEN and token.name == "zendesk_token"
    assert config.networks["brand_x"].settings["token"] == Secret(X_TOKEN, "x_token")
    assert isinstance(config.state_url, Secret) and config.state_url.reveal() == STATE_URL
    for shown in (repr(config), str(config), repr(config.helpdesks), repr(config.networks)):
        assert TOKEN not in shown and X_TOKEN not in shown and "pg-pass-77c1" not in shown
    assert "Secret(zendesk_token=****)" in repr(config.helpdesks["acme"])


def test_a_secret_path_may_name_an_environment_variable(tmp_path: Path) -> None:
    """systemd names its credentials folder only in $CREDENTIALS_DIRECTORY."""
    (tmp_path / "zendesk_token").write_text(TOKEN + "\n")
    for reference in ("{file: $CREDENTIALS_DIRECTORY/zendesk_token}", "{file: '${CREDENTIALS_DIRECTORY}/zendesk_token'}"):
        config = parse(PRODUCTION.replace("{env: SOCIALDESK_ZENDESK_TOKEN}", reference),
                       env={**ENV, "CREDENTIALS_DIRECTORY": str(tmp_path)})
        assert config.helpdesks["acme"].settings["token"].reveal() == TOKEN
    assert file_problem(tmp_path, "{file: $CREDENTIALS_DIRECTORY/zendesk_token}") == (
        "mapping.yaml:7:5: helpdesks.acme.token: the path $CREDENTIALS_DIRECTORY/zendesk_token names the "
        "environment variable CREDENTIALS_DIRECTORY, which is not set")


def test_a_key_file_keeps_its_lines(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    (tmp_path / "salesforce.pem").write_text(pem + "\n\n")
    config = parse_config(textwrap.dedent("""\
        version: 1
        helpdesks:
          sf: {kind: salesforce, login_url: https://acme.my.salesforce.com, auth: jwt, client_id: c,
               username: u@acme.example, private_key: {file: salesforce.pem}}
        networks: {bx: {kind: x, sandbox: true}}
        routes: [{name: r, network: bx, helpdesk: sf}]
        """), "mapping.yaml", {}, base_dir=tmp_path)
    assert config.helpdesks["sf"].settings["private_key"].reveal() == pem


def file_problem(tmp_path: Path, reference: str) -> str:
    """The one problem of the PRODUCTION mapping whose Zendesk token is ``reference``."""
    with pytest.raises(ConfigError) as info:
        parse_config(PRODUCTION.replace("{env: SOCIALDESK_ZENDESK_TOKEN}", reference), "mapping.yaml", ENV,
                     base_dir=tmp_path)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def test_a_missing_secret_file_names_the_place_and_the_file(tmp_path: Path) -> None:
    assert file_problem(tmp_path, "{file: nowhere/token}") == (
        f"mapping.yaml:7:5: helpdesks.acme.token: cannot read the secret file {tmp_path / 'nowhere' / 'token'}: "
        "No such file or directory")


@pytest.mark.parametrize("content, expected", [
    ("\n", "is empty"),
    ("", "is empty"),
    (b"\xff\xfe" + TOKEN.encode(), "is not UTF-8 text"),
    (TOKEN * 5000, "is over 64 KiB: it should hold the value alone"),
])
def test_a_secret_file_that_cannot_give_a_value_is_named_never_shown(tmp_path: Path, content: str | bytes,
                                                                      expected: str) -> None:
    path = tmp_path / "token"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    message = file_problem(tmp_path, "{file: token}")
    assert message == f"mapping.yaml:7:5: helpdesks.acme.token: the secret file {path} {expected}"
    assert TOKEN not in message


def test_a_folder_is_not_a_secret_file(tmp_path: Path) -> None:
    (tmp_path / "token").mkdir()
    assert file_problem(tmp_path, "{file: token}").endswith(
        f"cannot read the secret file {tmp_path / 'token'}: Is a directory")


@pytest.mark.parametrize("reference, expected", [
    ("{file: token, env: SOCIALDESK_ZENDESK_TOKEN}", "expected {env: NAME} or {file: PATH}, one of them alone"),
    ("{envv: SOCIALDESK_ZENDESK_TOKEN}", "expected {env: NAME} or {file: PATH}; got key 'envv' (did you mean 'env'?)"),
    ("{file: ''}", "file: expects the path of a file holding the value"),
])
def test_a_reference_is_env_or_file(tmp_path: Path, reference: str, expected: str) -> None:
    assert file_problem(tmp_path, reference) == f"mapping.yaml:7:5: helpdesks.acme.token: {expected}"


def test_what_a_file_holds_is_checked_without_being_shown(tmp_path: Path) -> None:
    """A URL setting and the state read from files are held to their rules; the problem
    names the file, never its content."""
    (tmp_path / "zendesk_url").write_text("ftp://intranet-host-4411\n")
    (tmp_path / "state_url").write_text("mysql://root:pw-3390@db/socialdesk\n")
    text = (PRODUCTION.replace("https://acme.zendesk.com", "{file: zendesk_url}")
            + "state: {file: state_url}\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, "mapping.yaml", ENV, base_dir=tmp_path)
    assert info.value.problems == [
        "mapping.yaml:5:5: helpdesks.acme.url: expected an https:// URL (the content of its file)",
        "mapping.yaml:18:1: state: the URL in the file state_url is not a supported database URL; expected "
        "sqlite:///FILE or postgresql+psycopg://HOST/DB (or state: {env: NAME} or {file: PATH})"]
    assert "intranet-host-4411" not in str(info.value) and "pw-3390" not in str(info.value)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("value, seconds", [
    (15, 15.0), (2.5, 2.5), ("15s", 15.0), ("2m", 120.0), ("1h", 3600.0), ("1m30s", 90.0),
    ("500ms", 0.5), ("45", 45.0),
])
def test_duration(value: object, seconds: float) -> None:
    assert duration(value) == seconds


@pytest.mark.parametrize("value", ["", "fast", "5 parsecs", "1d", 0, -1, True, None, "m"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        duration(value)


def test_render_template_cuts_text_to_60() -> None:
    text = "x" * 100
    assert render_template("{author}: {text}", author="ana", text=text) == "ana: " + "x" * 60


def test_config_module_imports_no_vendor_library() -> None:
    trees = [ast.parse(path.read_text()) for path in sorted((ROOT / "sync" / "config").glob("*.py"))]
    nodes = [n for tree in trees for n in ast.walk(tree)]
    modules = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in nodes
                if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    third_party = {m for m in modules if m not in sys.stdlib_module_names} - {"__future__", "sync"}
    assert third_party == {"yaml", "adapters", "pydantic", "pydantic_core"}
    assert not re.search(r"\b(zenpy|requests|simple_salesforce)\b",
                         "\n".join(ast.unparse(n) for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))))


# --------------------------------------------------------------------------- JSON Schema


def test_json_schema_is_valid_and_the_shipped_mappings_follow_it() -> None:
    import yaml
    from jsonschema import Draft202012Validator

    from sync.config import json_schema

    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"version", "routes"} <= set(schema["required"])
    validator = Draft202012Validator(schema)
    for path in (ROOT / "mapping.yaml", ROOT / "examples" / "salesforce.yaml", ROOT / "examples" / "production.yaml"):
        errors = [f"{list(e.absolute_path)}: {e.message}"
                  for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], (path.name, errors)
    # Secrets are shown as {env: NAME} or {file: PATH} references; settings and keys carry descriptions.
    assert schema["$defs"]["EnvReference"]["required"] == ["env"]
    assert schema["$defs"]["FileReference"]["required"] == ["file"]
    assert schema["$defs"]["ZendeskHelpdesk"]["properties"]["token"]["anyOf"] == [
        {"$ref": "#/$defs/EnvReference"}, {"$ref": "#/$defs/FileReference"}]
    assert schema["$defs"]["Route"]["properties"]["network"]["description"]
    # A mistake the loader reports is one the schema flags too.
    wrong = yaml.safe_load((ROOT / "mapping.yaml").read_text())
    wrong["routes"][0]["strems"] = ["mentions"]
    assert not validator.is_valid(wrong)


def test_a_mapping_loads_only_the_client_libraries_of_the_helpdesks_it_names() -> None:
    """A Zendesk-only mapping must not pay for simple-salesforce (about 17 MiB of memory)."""
    import subprocess

    probe = ("import sys; from sync.config import load_config; "
             "load_config('mapping.yaml', allow_missing_env=True); "
             "print(sorted(m for m in ('zenpy', 'simple_salesforce') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['zenpy']"


def test_a_setting_of_another_helpdesk_names_whose_it_is() -> None:
    mapping = textwrap.dedent("""\
        version: 1
        helpdesks: {zd: {kind: zendesk, sandbox: true}}
        networks: {brand: {kind: x, sandbox: true}}
        routes:
          - {name: t, network: brand, helpdesk: zd, ticket: {origin: Social}}
        """)
    with pytest.raises(ConfigError) as raised:
        parse_config(mapping, "m.yaml")
    assert "origin is a Salesforce setting, but this route writes to Zendesk" in str(raised.value)


def test_a_channel_accounts_push_wait_is_checked_with_the_mapping_and_reaches_its_pusher() -> None:
    from adapters.helpdesk.zendesk.client import ZendeskHelpdesk

    message = only_problem(PRODUCTION.replace("    email:", "    mode: channel\n    push_wait: soon\n    email:"))
    assert "push_wait 'soon'" in message and "seconds" in message, message
    message = only_problem(PRODUCTION.replace("    email:", "    mode: channel\n    push_wait: 600\n    email:"))
    assert "0 to 120 seconds" in message, message
    config = parse(PRODUCTION.replace("    email:", "    mode: channel\n    push_wait: 1.5s\n    email:"))
    entry = config.helpdesks["acme"]
    assert entry.settings["push_wait"] == "1.5s"
    channel = ZendeskHelpdesk.from_config({**entry.settings, "url": "https://acme.zendesk.com",
                                           "token": "t", "email": "e"})
    assert channel.push_wait == 1.5
