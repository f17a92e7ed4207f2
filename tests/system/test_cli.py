"""The socialdesk command line, run as a real process against a sandbox process."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import harness

ROOT = Path(__file__).resolve().parents[2]


def socialdesk(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd or ROOT)


sandbox_process = pytest.fixture(scope="module")(harness.sandbox_process)


def _production_like(tmp: Path, info: dict[str, Any]) -> tuple[Path, dict[str, str]]:
    return harness.production_mapping(tmp, info, "acme-x", "{tags: [social], group: Social care}")


def test_sandbox_json_first_line_has_what_a_client_needs(sandbox_process: dict) -> None:
    assert Path(sandbox_process["ca_bundle"]).is_file()
    zd, x = sandbox_process["services"]["zendesk"], sandbox_process["services"]["x"]
    assert {"url", "agent_email", "agent_token"} <= set(zd)
    assert {"url", "brand_handle"} <= set(x)
    assert zd["url"].startswith("https://") and x["url"].startswith("https://")


def test_check_connects_and_resolves_names(sandbox_process: dict, tmp_path: Path) -> None:
    config, env = _production_like(tmp_path, sandbox_process)
    done = socialdesk("check", "--config", str(config), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "connected as @socialdesk_demo" in done.stdout
    assert "group 'Social care' is id" in done.stdout
    assert f"state: the state file {tmp_path / 'state.sqlite'}: schema version" in done.stdout
    assert "(current), writable" in done.stdout
    assert env["SOCIALDESK_ZENDESK_CLIENT_SECRET"] not in done.stdout + done.stderr


def test_check_names_a_missing_environment_variable(sandbox_process: dict, tmp_path: Path) -> None:
    config, _ = _production_like(tmp_path, sandbox_process)
    done = socialdesk("check", "--config", str(config), env={"SOCIALDESK_ZENDESK_CLIENT_SECRET": "", "SOCIALDESK_X_TOKEN": ""})
    assert done.returncode == 2
    assert "SOCIALDESK_ZENDESK_CLIENT_SECRET" in done.stdout


def test_check_with_a_refused_token_says_so(sandbox_process: dict, tmp_path: Path) -> None:
    config, env = _production_like(tmp_path, sandbox_process)
    done = socialdesk("check", "--config", str(config), env={**env, "SOCIALDESK_X_TOKEN": "revoked-Tk9"})
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "401" in done.stdout
    assert "Tk9" not in done.stdout + done.stderr


def test_bad_mapping_names_file_line_and_what_is_allowed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "mapping.yaml").read_text().replace("priority: normal", "priority: asap"))
    done = socialdesk("check", "--config", str(bad))
    assert done.returncode == 2
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "priority: asap" in text)
    assert f"bad.yaml:{line}:" in done.stderr and "asap" in done.stderr and "urgent" in done.stderr


def test_setup_is_idempotent(sandbox_process: dict, tmp_path: Path) -> None:
    config, env = _production_like(tmp_path, sandbox_process)
    first = socialdesk("setup", "--config", str(config), "--public-url", "https://socialdesk.acme.example", env=env)
    assert first.returncode == 0, first.stderr
    assert "created webhook" in first.stdout and "created trigger" in first.stdout
    again = socialdesk("setup", "--config", str(config), "--public-url", "https://socialdesk.acme.example", env=env)
    assert again.returncode == 0 and "already set up" in again.stdout


@pytest.mark.parametrize("url, says", [
    ("http://socialdesk.acme.example", "must start with https://"),
    ("socialdesk.acme.example", "must start with https://"),
    ("https:///hooks", "names no host"),
    ("https://socialdesk.acme.example/?via=proxy", "must not have a query or fragment"),
    ("https://socialdesk.acme.example/#top", "must not have a query or fragment"),
    ("https://socialdesk.acme.example:70000", "is not a URL"),
    ("https://127.0.0.1:8443", "127.0.0.1 is a loopback address"),
    ("https://10.0.0.5/socialdesk", "10.0.0.5 is a private address"),
    ("https://192.168.1.20", "192.168.1.20 is a private address"),
    ("https://169.254.169.254", "169.254.169.254 is a link-local address"),
    ("https://[fe80::1]", "fe80::1 is a link-local address"),
    ("https://[::ffff:172.16.0.9]", "is a private address"),
    ("https://localhost:8443", "localhost (resolves to 127.0.0.1"),
])
def test_setup_refuses_a_public_url_a_helpdesk_cannot_call(url: str, says: str, sandbox_process: dict,
                                                           tmp_path: Path) -> None:
    config, env = _production_like(tmp_path, sandbox_process)
    done = socialdesk("setup", "--config", str(config), "--public-url", url, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr and "--public-url" in done.stderr
    assert not (tmp_path / "state.sqlite").exists(), "refused before anything was opened or created"


def test_setup_never_echoes_credentials_in_a_public_url(sandbox_process: dict, tmp_path: Path) -> None:
    config, env = _production_like(tmp_path, sandbox_process)
    done = socialdesk("setup", "--config", str(config), "--public-url", "https://admin:Pw-9xq@socialdesk.acme.example",
                      env=env)
    assert done.returncode == 2 and "must not carry a user name or password" in done.stderr
    assert "Pw-9xq" not in done.stderr


def test_setup_refuses_a_private_public_url_from_the_mapping_naming_where_it_is(sandbox_process: dict,
                                                                               tmp_path: Path) -> None:
    config, env = _production_like(tmp_path, sandbox_process)
    config.write_text(config.read_text() + "webhook:\n  public_url: https://10.1.2.3\n")
    done = socialdesk("setup", "--config", str(config), env=env)
    assert done.returncode == 2, done.stderr
    assert f"webhook.public_url in {config} 'https://10.1.2.3': 10.1.2.3 is a private address" in done.stderr


def _api_token_mapping(tmp: Path, info: dict[str, Any], email: str, token: str) -> tuple[Path, dict[str, str]]:
    """The production-like mapping, signing in to Zendesk with an email and API token."""
    config, env = _production_like(tmp, info)
    zd = info["services"]["zendesk"]
    text = config.read_text().replace(f"    auth: client_credentials\n    client_id: {zd['oauth_client_id']}\n"
                                      "    client_secret: {env: SOCIALDESK_ZENDESK_CLIENT_SECRET}\n",
                                      f"    auth: api_token\n    email: {email}\n    token: {{env: SD_ZD_TOKEN}}\n")
    assert "api_token" in text
    config.write_text(text)
    return config, {**env, "SD_ZD_TOKEN": token}


@pytest.mark.parametrize("case", ["oauth client secret", "api token", "agent's token"])
def test_setup_with_credentials_the_helpdesk_refuses_says_which_in_one_line(case: str, sandbox_process: dict,
                                                                           tmp_path: Path) -> None:
    zd = sandbox_process["services"]["zendesk"]
    if case == "oauth client secret":
        config, env = _production_like(tmp_path, sandbox_process)
        env["SOCIALDESK_ZENDESK_CLIENT_SECRET"] = bad = "wrong-secret-Qx7"
        expected = "invalid_client"
    elif case == "api token":
        config, env = _api_token_mapping(tmp_path, sandbox_process, zd["api_email"], bad := "wrong-token-Zq9")
        expected = "HTTP 401"
    else:   # signs in, but an agent may not make webhooks: Zendesk answers 403
        config, env = _api_token_mapping(tmp_path, sandbox_process, zd["agent_email"], zd["agent_token"])
        bad, expected = zd["agent_token"], "HTTP 403"
    done = socialdesk("setup", "--config", str(config), "--public-url", "https://socialdesk.acme.example", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("socialdesk: setup:")]
    assert len(said) == 1, done.stderr
    assert said[0].startswith(f"socialdesk: setup: helpdesk acme (zendesk at {zd['url']}) refused")
    assert expected in said[0] and "then run setup again" in said[0]
    assert bad not in done.stdout + done.stderr
    assert "created" not in done.stdout


def _many_routes(tmp: Path, info: dict[str, Any], count: int) -> tuple[Path, dict[str, str]]:
    """The production-like mapping with ``count`` X accounts, each routed to the helpdesk."""
    config, env = _production_like(tmp, info)
    head, _, _ = config.read_text().partition("networks:\n")
    x, ca = info["services"]["x"], info["ca_bundle"]
    networks = "".join(f"  acme_x{i}:\n    kind: x\n    base_url: {x['url']}\n    token: {{env: SOCIALDESK_X_TOKEN}}\n"
                       f"    ca_bundle: {ca}\n" for i in range(count))
    routes = "".join(f"  - name: route-{i}\n    network: acme_x{i}\n    helpdesk: acme\n"
                     "    ticket: {group: Social care}\n" for i in range(count))
    config.write_text(f"{head}networks:\n{networks}routes:\n{routes}")
    return config, env


def test_check_of_many_routes_shows_its_progress_plainly_when_not_on_a_terminal(sandbox_process: dict,
                                                                               tmp_path: Path) -> None:
    config, env = _many_routes(tmp_path, sandbox_process, 6)
    done = socialdesk("check", "--config", str(config), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    status = [line for line in done.stdout.splitlines() if "checking" in line]
    assert status and "helpdesk acme" in status[0], "the first step is said at once"
    assert "13 of 13 checked" in status[-1]
    assert "route route-5: group 'Social care' is id" in done.stdout
    assert "\x1b[" not in done.stdout, "no terminal codes in a pipe"
    (tmp_path / "few").mkdir()
    few = socialdesk("check", "--config", str(_production_like(tmp_path / "few", sandbox_process)[0]), env=env)
    assert few.returncode == 0 and "checking" not in few.stdout, "a few routes need no progress"


def test_check_of_many_routes_draws_a_progress_bar_on_a_terminal(sandbox_process: dict, tmp_path: Path) -> None:
    import pty

    config, env = _many_routes(tmp_path, sandbox_process, 6)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "check", "--config", str(config)], stdout=follower,
                            stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, **env, "COLUMNS": "120"})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:   # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    text = shown.decode(errors="replace")
    assert "checking" in text and "13/13" in text and "━" in text, text[-2000:]
    assert "route route-5: group 'Social care' is id" in text


def test_run_once_then_status_and_failed(sandbox_process: dict, tmp_path: Path) -> None:
    import requests

    config, env = _production_like(tmp_path, sandbox_process)
    x = sandbox_process["services"]["x"]
    requests.post(f"{x['url']}/_sandbox/posts", verify=sandbox_process["ca_bundle"],
                  json={"author": "cli_user", "text": f"@{x['brand_handle']} hi from the cli test"}).raise_for_status()
    run = socialdesk("run", "--config", str(config), "--once", env=env)
    assert run.returncode == 0, run.stderr
    status = socialdesk("status", "--config", str(config), "--json", env=env)
    body = json.loads(status.stdout)
    assert body["health"]["acme-x"]["state"] == "active"
    assert body["routes"]["acme-x"]["tickets"] >= 1
    failed = socialdesk("failed", "list", "--config", str(config), env=env)
    assert failed.returncode == 0 and "nothing failed" in failed.stdout
    retry = socialdesk("failed", "retry", "bogus", "--config", str(config), env=env)
    assert retry.returncode == 2 and "expected an id like" in retry.stderr


def test_run_refuses_a_sandbox_mapping_without_sandbox() -> None:
    done = socialdesk("run", "--config", str(ROOT / "mapping.yaml"), "--once")
    assert done.returncode == 2 and "--sandbox" in done.stderr


def test_run_with_sandbox_prints_the_sandbox_json_first(tmp_path: Path) -> None:
    config = tmp_path / "mapping.yaml"
    config.write_text((ROOT / "mapping.yaml").read_text().replace(
        "sqlite:///socialdesk.sqlite", f"sqlite:///{tmp_path / 's.sqlite'}"))
    done = socialdesk("run", "--config", str(config), "--sandbox", "--once")
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout.splitlines()[0])
    assert set(first) == {"ca_bundle", "services", "accounts"} and {"x", "zendesk"} <= set(first["services"])
    assert first["accounts"]["zendesk"] == [first["services"]["zendesk"]]   # one account unless asked for more


def test_check_says_exactly_which_salesforce_metadata_is_missing(sandbox_process: dict, tmp_path: Path) -> None:
    import requests

    config, env = harness.production_mapping(tmp_path, sandbox_process, "acme-x", "{priority: normal}", "salesforce")
    ok = socialdesk("check", "--config", str(config), env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    sf = sandbox_process["services"]["salesforce"]
    settings = f"{sf['url']}/_sandbox/settings"
    requests.post(settings, json={"custom_fields": False}, verify=sandbox_process["ca_bundle"]).raise_for_status()
    try:
        bare = socialdesk("check", "--config", str(config), env=env)
    finally:
        requests.post(settings, json={"custom_fields": True}, verify=sandbox_process["ca_bundle"]).raise_for_status()
    assert bare.returncode == 1
    assert "Case.Social_Post_Id__c is missing" in bare.stdout
    assert "Contact.Social_Handle__c is missing" in bare.stdout
    assert env["SOCIALDESK_SALESFORCE_CLIENT_SECRET"] not in bare.stdout + bare.stderr


def test_status_shows_the_salesforce_api_budget(sandbox_process: dict, tmp_path: Path) -> None:
    config, env = harness.production_mapping(tmp_path, sandbox_process, "acme-x", "{priority: normal}", "salesforce")
    run = socialdesk("run", "--config", str(config), "--once", env=env)
    assert run.returncode == 0, run.stderr
    status = socialdesk("status", "--config", str(config), env=env)
    shown = route_rows(status.stdout, "acme-x")
    assert shown["API budget (acme)"].startswith("org ") and "share 20%" in shown["API budget (acme)"]
    assert int(shown["cases"]) >= 0 and "tickets" not in shown, "a Salesforce route makes cases"
    body = json.loads(socialdesk("status", "--config", str(config), "--json", env=env).stdout)
    assert body["budgets"]["acme"]["socialdesk_calls_24h"] > 0
    assert "calls_per_minute" not in body["budgets"]["acme"], "the per-minute detail is for restarts only"
    from sync.store import Store

    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    saved = store.budgets()["acme"]
    store.put_budget("acme", {**saved, "slowdown": 4.0, "batch_from": 2})
    store.close()
    tight = socialdesk("status", "--config", str(config), env=env)
    assert route_rows(tight.stdout, "acme-x")["API budget (acme)"].endswith(
        "; polling slowed x4, writes batched from 2 pending")


@pytest.mark.parametrize("mapping, expected", [
    ("mapping.yaml", ['rule \'outage\' [mention, reply], priority high: SLA "Social urgent"',
                      'no rule fires [mention, reply, dm], priority normal: SLA "Social care"',
                      'WARNING: trigger "Notify requester of received request"']),
    ("examples/salesforce.yaml", ['entitlement "Social Care Premium"', 'assignment rule "Social Care Routing" runs',
                                  "assignment rule bypassed"]),
])
def test_check_sandbox_prints_the_sla_coverage_of_the_shipped_mapping(mapping: str, expected: list[str]) -> None:
    done = socialdesk("check", "--config", str(ROOT / mapping), "--sandbox", cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SLA coverage" in done.stdout
    for text in expected:
        assert text in done.stdout, (text, done.stdout)
    assert "rule 'outage': group 'Escalations' is id" in done.stdout or mapping != "mapping.yaml"


def test_check_fails_on_a_rule_naming_a_group_the_helpdesk_lacks(tmp_path: Path) -> None:
    bad = tmp_path / "mapping.yaml"
    bad.write_text((ROOT / "mapping.yaml").read_text().replace("group: Escalations", "group: Escalatoins"))
    done = socialdesk("check", "--config", str(bad), cwd=ROOT)
    assert done.returncode == 1
    assert "rule 'outage': FAILED" in done.stdout and "Escalatoins" in done.stdout


def test_schema_prints_a_json_schema_the_shipped_mappings_satisfy() -> None:
    import jsonschema

    done = socialdesk("schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema.get("type") == "object"
    assert {"version", "helpdesks", "networks", "routes"} <= set(schema.get("properties", {}))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    for mapping in ("mapping.yaml", "examples/salesforce.yaml"):
        # An editor reading the schema must not flag the mappings we ship.
        errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(
            yaml.safe_load((ROOT / mapping).read_text())))
        assert not errors, (mapping, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]])


def test_schema_help_says_what_editors_do_with_it() -> None:
    done = socialdesk("schema", "--help")
    assert done.returncode == 0
    assert "completion" in done.stdout and "yaml-language-server: $schema=" in done.stdout


def test_help_lists_every_command_without_loading_the_sandbox_or_the_daemon() -> None:
    probe = ("import sys; from cli.main import build_parser; "
             "assert build_parser().format_help(); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sandbox', 'sync', 'adapters')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", "commands import what they need only when they run"
    shown = socialdesk("--help").stdout
    for command in ("demo", "run", "sandbox", "check", "setup", "status", "failed", "rules", "schema"):
        assert command in shown


def test_only_the_application_layer_imports_the_sandbox() -> None:
    found = []
    for top in ("sync", "adapters"):
        for path in sorted((ROOT / top).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                else:
                    continue
                found += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}" for name in names
                          if name.split(".")[0] in ("sandbox", "cli")]
    assert not found, found


def test_run_with_sandbox_twice_in_one_folder_starts_the_second_afresh(tmp_path: Path) -> None:
    """A fresh sandbox has fresh accounts and post ids: the first run's state is kept aside,
    never used to send the second run's replies to the first run's posts; and both runs
    signed in with OAuth, the grant sealed in the state."""
    (tmp_path / "mapping.yaml").write_text((ROOT / "mapping.yaml").read_text())
    env = {"SOCIALDESK_KEY_FILE": str(tmp_path / "secret.key")}
    first = socialdesk("run", "--config", "mapping.yaml", "--sandbox", "--once", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    services = json.loads(first.stdout.splitlines()[0])["services"]
    sealed = (tmp_path / "socialdesk.sqlite").read_bytes()
    assert services["zendesk"]["api_token"].encode() not in sealed
    second = socialdesk("run", "--config", "mapping.yaml", "--sandbox", "--once", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert f"the state was made with an earlier sandbox; kept as {tmp_path / 'socialdesk.sqlite'}." in second.stderr
    kept = [p.name for p in tmp_path.glob("socialdesk.sqlite.*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1
    status = json.loads(second.stdout.splitlines()[-1])
    assert status["routes"]["x-support"]["state"] == "active", status
    shown = socialdesk("status", "--config", "mapping.yaml", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    granted = block_rows(shown.stdout, "credentials")
    assert granted["sandbox_zendesk"].startswith("OAuth grant stored ") and "access renews by" in granted["brand_x"]
    as_json = json.loads(socialdesk("status", "--config", "mapping.yaml", "--json", cwd=tmp_path, env=env).stdout)
    assert set(as_json["credentials"]) == {"sandbox_zendesk", "brand_x"}
    assert as_json["accounts"]["sandbox_zendesk"].startswith("zendesk https://127.0.0.1:")


# --------------------------------------------------------------------------- plain output of status and failed


def block_rows(text: str, heading: str) -> dict[str, str]:
    """The aligned name/value rows under the line ``heading`` of a command's plain output."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    rows = {}
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        name, _, value = line.strip().partition("  ")
        rows[name] = value.strip()
    return rows


def route_rows(text: str, route: str) -> dict[str, str]:
    """``socialdesk status``'s rows of ``route`` (the route's line itself is ``health``)."""
    heading = next(line for line in text.splitlines() if line.startswith(f"route {route}: "))
    return {"health": heading.removeprefix(f"route {route}: "), **block_rows(text, heading)}


HELD = ("HeldReply: held: the reply seems to contain an email address; answer again without it, "
        "or move the conversation to a direct message")


@pytest.mark.parametrize("mapping, route, made", [("mapping.yaml", "x-support", "tickets"),
                                                  ("examples/salesforce.yaml", "x-support", "cases")])
def test_status_and_failed_list_say_in_words_what_needs_a_look(tmp_path: Path, mapping: str, route: str,
                                                               made: str) -> None:
    from sync.store import Store

    text = (ROOT / mapping).read_text()
    config = tmp_path / "mapping.yaml"
    config.write_text(text.replace("sqlite:///socialdesk", f"sqlite:///{tmp_path}/socialdesk", 1))
    store = Store(f"sqlite:///{tmp_path}/" + text.split("sqlite:///", 1)[1].split()[0])
    store.migrate()
    store.quarantine_item(route, "mentions", "x:post:901", "SkippableError: the post was deleted", {"id": "901"})
    store.enqueue_reply(route, "4402", "77", "mail me at ann@example.com")
    store.finish_outbox(store.claim_outbox(route)[0].id, "failed", HELD)
    store.close()
    env = {"SOCIALDESK_KEY_FILE": str(tmp_path / "secret.key")}

    status = socialdesk("status", "--config", str(config), env=env)
    assert status.returncode == 0, status.stderr
    rows = route_rows(status.stdout, route)
    assert rows["health"] == "never run" and rows[made] == "0"
    assert rows["mentions read"] == "1 quarantined (see 'socialdesk failed list')"
    assert rows["agent replies"] == "1 held or failed (see 'socialdesk failed list')"
    assert "{" not in status.stdout, "no dict reprs"

    listed = socialdesk("failed", "list", "--config", str(config), env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "2 items failed or held (1 held by a guard); queue one again with: socialdesk failed retry ID"
    cuts = [lines[1].index(name) for name in ("id", "route", "what", "tries", "why")] + [None]
    table = [[line[a:b].strip() for a, b in zip(cuts, cuts[1:])] for line in lines[2:]]
    assert table == [["in-1", route, "mention x:post:901", "0", "the post was deleted"],
                     ["out-1", route, "reply comment:4402", "0", HELD.removeprefix("HeldReply: ")]]
    as_json = json.loads(socialdesk("failed", "list", "--config", str(config), "--json", env=env).stdout)
    assert [set(row) for row in as_json] == [{"id", "route", "flow", "key", "reason", "attempts"}] * 2
    assert as_json[1]["reason"] == HELD, "--json keeps the reason as stored"


def test_rules_explain_shows_exactly_the_tags_the_daemon_writes(sandbox_process: dict, tmp_path: Path) -> None:
    """The tags socialdesk adds by itself (the socialdesk tag its trigger keys on) are on the
    ticket the daemon writes, and rules explain shows that same list for the same post."""
    import requests

    from sandbox.scenario import People

    config, env = _production_like(tmp_path, sandbox_process)
    x = sandbox_process["services"]["x"]
    text = f"@{x['brand_handle']} which tags will my ticket get?"
    post = requests.post(f"{x['url']}/_sandbox/posts", verify=sandbox_process["ca_bundle"],
                         json={"author": "tag_asker", "text": text}).json()
    assert socialdesk("run", "--config", str(config), "--once", env=env).returncode == 0
    ticket = People(sandbox_process).ticket_for(post["id"])
    assert ticket is not None, "the daemon wrote no ticket for the post"
    sample = tmp_path / "mention.json"
    sample.write_text(json.dumps({"network": "x", "id": post["id"], "kind": "mention", "text": text,
                                  "author": {"id": "1", "handle": "tag_asker"}}))
    explained = socialdesk("rules", "explain", "--config", str(config), "--mention", str(sample), env=env)
    assert explained.returncode == 0, explained.stderr
    lines = explained.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("  field "))
    value_at, source_at = lines[header].index("value"), lines[header].index("set by")
    tag_rows = [lines[header + 1 + i] for i, line in enumerate(lines[header + 1:])
                if line.startswith("  tags ") or (line.strip() and not line[2:value_at].strip())]
    shown = [tag.strip() for row in tag_rows for tag in row[value_at:source_at].split(",")]
    assert shown[0] == "socialdesk" and sorted(shown) == sorted(ticket["tags"]), (shown, ticket["tags"])

