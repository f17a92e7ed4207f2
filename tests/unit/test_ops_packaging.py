"""The operator's packaging held against the package it ships. ``docker build`` cannot run
here (no registry to pull the base image from), so the Dockerfile's commands are checked
one by one against what they name: the console script, the command line, the port, the
health check's path (run as written against the daemon's own web app), the user. The
same for compose.yaml, the systemd unit, and the production mapping they mount."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.base import Secret
from cli.main import build_parser
from sync.config import DEFAULT_LISTEN, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
UNIT = ROOT / "packaging" / "systemd" / "socialdesk.service"
EXAMPLE = ROOT / "examples" / "production.yaml"
DEFAULT_PORT = int(DEFAULT_LISTEN.rsplit(":", 1)[1])


# --------------------------------------------------------------------------- readers


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments out."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        word, _, rest = (pending + line).strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def only(name: str) -> str:
    found = [rest for word, rest in instructions() if word == name]
    assert found, f"the Dockerfile has no {name}"
    return found[-1]   # the last one is the one in force (the final stage)


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    start = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[start:]


def healthcheck_command() -> list[str]:
    options, _, command = only("HEALTHCHECK").partition(" CMD ")
    assert options.startswith("--"), "exec form after the options"
    return json.loads(command)


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def unit() -> dict[str, list[str]]:
    """The systemd unit's settings, each with every value it is given (in order)."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def mapping_files(path: Path = EXAMPLE) -> list[str]:
    """Every ``{file: PATH}`` the mapping names, in file order."""
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"file"}:
                yield node["file"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    return list(walk(yaml.safe_load(path.read_text())))


def console_scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


# --------------------------------------------------------------------------- Dockerfile


def test_the_entry_point_is_the_packages_console_script() -> None:
    entry = json.loads(only("ENTRYPOINT"))
    assert entry == ["socialdesk"]
    target = console_scripts()[entry[0]]
    module, _, function = target.partition(":")
    assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_the_command_parses_as_the_daemon_with_the_mounted_mapping() -> None:
    command = json.loads(only("CMD"))
    args = build_parser().parse_args(command)
    assert (args.command, args.config, args.log_format, args.sandbox) == (
        "run", "/etc/socialdesk/mapping.yaml", "json", False)
    # SOCIALDESK_CONFIG (the default of every other command) names the same mapping.
    env = " ".join(rest for word, rest in final_stage() if word == "ENV")
    assert f"SOCIALDESK_CONFIG={args.config}" in env


def test_the_image_runs_as_an_unprivileged_user() -> None:
    user = only("USER")
    uid, _, gid = user.partition(":")
    assert uid not in ("root", "0") and gid not in ("root", "0")
    made = re.search(r"useradd [^&]*--uid (\d+)", " ".join(rest for word, rest in final_stage() if word == "RUN"))
    assert made is not None and made.group(1) == uid, "USER is the user the image makes"


def test_the_exposed_port_is_the_daemons_default_listen_port() -> None:
    # A mapping whose webhook section leaves listen out listens on the port the image exposes.
    text = (ROOT / "mapping.yaml").read_text() + "webhook: {}\n"
    default = parse_config(text, "mapping.yaml", env={}).webhook
    assert default is not None and only("EXPOSE").split() == [str(default.port)] == [str(DEFAULT_PORT)]
    assert f"127.0.0.1:{default.port}/" in " ".join(healthcheck_command())
    webhook = yaml.safe_load(EXAMPLE.read_text())["webhook"]
    assert webhook["listen"] == f"0.0.0.0:{DEFAULT_PORT}", "in a container the daemon listens beyond loopback"


def test_the_install_brings_the_postgresql_driver() -> None:
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    assert "pip install '.[postgres]'" in runs
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["postgres"]
    assert any(requirement.startswith("psycopg") for requirement in extra)


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    """.dockerignore lets in only what is named; every COPY from the context is among it."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = [part for word, rest in instructions() if word == "COPY" and not rest.startswith("--from")
              for part in rest.split()[:-1]]
    assert copied and all(part in allowed for part in copied), (copied, allowed)
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert {p.rstrip("*") for p in packages["include"]} <= set(copied), "every package is installed"


def test_the_wheel_carries_the_plugin_manifest_where_the_installed_modules_read_it(tmp_path: Path) -> None:
    """An installed socialdesk (the image, the systemd unit) reads plugin_manifest.json from
    inside its sync package: the wheel pip builds carries it there, equal to the top-level file."""
    import subprocess
    import sys
    import zipfile

    import sync
    import sync.channel
    import sync.config.endpoints

    package = Path(sync.__file__).resolve().parent
    assert sync.config.endpoints._MANIFEST == sync.channel._PLUGIN == package / "plugin_manifest.json"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("socialdesk-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("sync/plugin_manifest.json") == (ROOT / "plugin_manifest.json").read_bytes()
    assert not any(word == "RUN" and "plugin_manifest" in rest for word, rest in instructions())


@pytest.fixture
def daemon_app(tmp_path: Path) -> Any:
    """The daemon's web app as ``socialdesk run`` builds it, on the production example and an
    SQLite state (building it connects to nothing)."""
    from sync.daemon import Daemon
    from sync.store import Store

    config = load_config(production_mapping(tmp_path), env={})
    state = tmp_path / "state"
    state.mkdir()
    store = Store(f"sqlite:///{state / 'socialdesk.sqlite'}")
    store.migrate()
    daemon = Daemon(config, store)
    yield daemon.web_app(), store, state
    store.close()


def probe(url: str) -> subprocess.CompletedProcess[str]:
    """The image's health check, run as written, with its address pointed at ``url``."""
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    return subprocess.run([sys.executable, "-c", command[2]], env={"SOCIALDESK_READY_URL": url},
                          capture_output=True, text=True, timeout=30)


def test_the_health_check_asks_readiness_of_the_daemons_own_web_app(daemon_app: Any) -> None:
    """What is asserted: the path in the HEALTHCHECK is a route of the daemon's web app
    (its URL map, and a real request answered 200 or 503, never 404), and the check as
    written passes while the daemon is ready and fails, saying why, once it is not (the
    state store gone)."""
    from werkzeug.test import Client

    from sync.web import WebServer

    app, store, state = daemon_app
    url = re.search(r"'(http://[^']+)'", healthcheck_command()[2])
    assert url is not None
    path = "/" + url.group(1).split("/", 3)[3]
    assert path == "/readyz"
    assert path in {rule.rule for rule in app.urls.iter_rules()}
    assert Client(app).get(path).status_code == 200
    web = WebServer(app, "127.0.0.1", 0).start()
    try:
        ready = probe(web.url + path)
        assert ready.returncode == 0, ready.stderr
        store.engine.dispose()
        shutil.rmtree(state)         # the state store cannot be opened any more
        assert Client(app).get(path).status_code == 503
        gone = probe(web.url + path)
        assert gone.returncode == 1 and gone.stderr.startswith("not ready: HTTP Error 503")
    finally:
        web.stop()


# --------------------------------------------------------------------------- compose.yaml


def production_mapping(tmp_path: Path) -> Path:
    """examples/production.yaml with its /run/secrets files made in ``tmp_path``."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for path in mapping_files():
        (secrets / Path(path).name).write_text(f"value-of-{Path(path).name}\n")
    (secrets / "state_url").write_text("postgresql+psycopg://socialdesk:pw-5521@postgres:5432/socialdesk\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(EXAMPLE.read_text().replace("/run/secrets/", f"{secrets}/"))
    return mapping


def test_the_production_example_loads_with_its_secret_files(tmp_path: Path) -> None:
    files = mapping_files()
    assert files and all(f.startswith("/run/secrets/") for f in files)
    config = load_config(production_mapping(tmp_path), env={})
    assert not config.uses_sandbox and config.missing_env == ()
    assert isinstance(config.state_url, Secret) and config.state_url.reveal().startswith("postgresql+psycopg://")
    assert config.helpdesks["acme"].settings["client_secret"].reveal() == "value-of-zendesk_client_secret"
    assert config.networks["brand_x"].settings["client_secret"].reveal() == "value-of-x_client_secret"
    assert config.webhook is not None and config.webhook.secret == Secret("value-of-webhook_secret")
    assert (config.webhook.host, config.webhook.port) == ("0.0.0.0", DEFAULT_PORT)
    assert "pw-5521" not in repr(config) and "value-of-" not in repr(config)


def test_compose_parses_and_mounts_the_secrets_the_mapping_reads() -> None:
    spec = compose()
    service = spec["services"]["socialdesk"]
    mounted = {volume.split(":")[1]: volume for volume in service["volumes"]}
    command = build_parser().parse_args(service["command"])
    mapping = mounted[command.config]
    assert mapping.endswith(":ro"), "the mapping is mounted read-only"
    assert (ROOT / mapping.split(":")[0]).resolve() == EXAMPLE
    read = {Path(f).name for f in mapping_files(EXAMPLE)}
    given = set(service["secrets"])
    # Beside the mapping's secrets, the key the OAuth grants are sealed with.
    assert given - read == {"socialdesk_key"}
    assert service["environment"]["SOCIALDESK_KEY_FILE"] == "/run/secrets/socialdesk_key"
    assert read <= given
    assert all(spec["secrets"][name]["file"] == f"./secrets/{name}" for name in given)


def test_compose_runs_postgres_first_and_checks_both_services() -> None:
    spec = compose()
    postgres, service = spec["services"]["postgres"], spec["services"]["socialdesk"]
    assert postgres["image"].startswith("postgres:")
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert postgres["secrets"] == ["postgres_password"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    data = [v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data")]
    assert data and data[0].split(":")[0] in spec["volumes"]
    assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert service["healthcheck"]["test"] == ["CMD", *healthcheck_command()], "the image's own check"
    assert service["command"] == json.loads(only("CMD"))
    assert service["ports"] == [f"127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT}"], "loopback only: the proxy is in front"
    # The URL in state_url names the compose service and the database it makes.
    assert "@postgres:5432/socialdesk" in EXAMPLE.read_text()
    assert postgres["environment"]["POSTGRES_DB"] == "socialdesk"


# --------------------------------------------------------------------------- systemd


def test_the_systemd_unit_runs_the_console_script_hardened() -> None:
    settings = unit()
    argv = shlex.split(settings["ExecStart"][0])
    assert Path(argv[0]).name in console_scripts()
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and Path(args.config).is_absolute()
    assert settings["User"] == ["socialdesk"] and settings["Group"] == ["socialdesk"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes"}.items():
        assert settings[key] == [value], key
    state = f"/var/lib/{settings['StateDirectory'][0]}"
    assert settings["ReadWritePaths"] == [state] and settings["WorkingDirectory"] == [state]


def test_the_systemd_unit_loads_the_credentials_the_mapping_reads() -> None:
    settings = unit()
    loaded = {credential.split(":", 1)[0]: credential.split(":", 1)[1] for credential in settings["LoadCredential"]}
    assert set(loaded) - {Path(f).name for f in mapping_files()} == {"socialdesk_key"}
    assert {Path(f).name for f in mapping_files()} <= set(loaded)
    assert all(source == f"/etc/socialdesk/credentials/{name}" for name, source in loaded.items())
    assert settings["Environment"] == ["SOCIALDESK_KEY_FILE=%d/socialdesk_key"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """systemd's own check; the executable is swapped for one that exists here."""
    text = UNIT.read_text()
    executable = shlex.split(unit()["ExecStart"][0])[0]
    copy = tmp_path / "socialdesk.service"
    copy.write_text(text.replace(executable, shutil.which("true") or "/bin/true"))
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
