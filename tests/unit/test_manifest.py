"""plugin_manifest.json is what an admin or a marketplace sees: hold it to the code."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

import adapters
from adapters.base import CAPABILITIES, capabilities

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "plugin_manifest.json").read_text())
SETTINGS = {s["name"]: s for s in MANIFEST["settings"]}


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert MANIFEST["version"] == project["version"]


def test_adapters_match_the_registry() -> None:
    declared = {a["kind"]: a for a in MANIFEST["adapters"]}
    assert set(declared) == set(adapters.REGISTRY)
    for kind, entry in declared.items():
        role, target = adapters.REGISTRY[kind]
        assert entry["role"] == role and entry["module"] == target
        assert adapters.resolve(kind, role).kind == kind


@pytest.mark.parametrize("entry", MANIFEST["adapters"], ids=lambda e: e["kind"])
def test_adapter_settings_are_declared_and_cover_the_class(entry: dict) -> None:
    cls = adapters.resolve(entry["kind"])
    keys = set()
    for name in entry["settings"]:
        setting = SETTINGS[name]
        assert setting["adapter"] == entry["kind"]
        keys.add(setting["key"])
        if cls.settings_schema[setting["key"]] == "secret":
            assert setting.get("secret") is True, f"{name} must be marked secret"
    assert keys == set(cls.settings_schema)
    required = {SETTINGS[n]["key"] for n in entry["settings"] if SETTINGS[n].get("required")}
    assert required == set(cls.required_settings)
    assert entry["scopes"], "an admin needs to know which scopes to grant"


@pytest.mark.parametrize("setting", [s for s in MANIFEST["settings"] if s.get("secret")], ids=lambda s: s["name"])
def test_secrets_come_from_the_environment_and_have_no_default(setting: dict) -> None:
    assert setting["env"].startswith("SOCIALDESK_")
    assert "default" not in setting


def test_reply_limits_match_adapter_attributes() -> None:
    for entry in MANIFEST["adapters"]:
        if "reply_limits" in entry:
            cls = adapters.resolve(entry["kind"])
            assert entry["reply_limits"] == {"public": cls.max_reply_len, "dm": cls.max_dm_len}


def test_unknown_kind_gets_a_did_you_mean() -> None:
    with pytest.raises(adapters.FatalError, match="Did you mean 'zendesk'"):
        adapters.resolve("zendsk")


@pytest.mark.parametrize("entry", MANIFEST["adapters"], ids=lambda e: e["kind"])
def test_declared_capabilities_match_the_manifest(entry: dict) -> None:
    """What the marketplace listing promises is what the adapter class declares."""
    cls = adapters.resolve(entry["kind"])
    assert list(capabilities(cls)) == entry["capabilities"]
    core = "reads_mentions" if entry["role"] == "social" else "writes_tickets"
    assert core in entry["capabilities"], f"every {entry['role']} adapter has its role's protocol"


@pytest.mark.parametrize("entry", MANIFEST["adapters"], ids=lambda e: e["kind"])
def test_declared_capabilities_are_implemented_by_the_adapter(entry: dict) -> None:
    """A declared Protocol's every method is the adapter's own, never the Protocol's stub."""
    cls = adapters.resolve(entry["kind"])
    for name in entry["capabilities"]:
        proto = CAPABILITIES[name]
        for member, value in vars(proto).items():
            if callable(value) and not member.startswith("_"):
                owner = next(k for k in cls.__mro__ if member in vars(k))
                assert owner not in CAPABILITIES.values(), f"{cls.__name__}.{member} ({name}) is not implemented"
        assert isinstance(object.__new__(cls), proto), f"{cls.__name__} does not meet {proto.__name__}"


def test_undeclared_capabilities_are_not_used_by_accident() -> None:
    """A capability the manifest omits is one the class does not declare (no silent extras)."""
    for entry in MANIFEST["adapters"]:
        cls = adapters.resolve(entry["kind"])
        for name, proto in CAPABILITIES.items():
            assert (proto in cls.__mro__) == (name in entry["capabilities"]), (entry["kind"], name)
