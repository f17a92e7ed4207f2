"""The Zendesk app package: generated from plugin_manifest.json, held to Zendesk's package rules
offline (zcli only validates by uploading), and checked for drift from the manifest."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest

from cli.main import main
from cli.package import PLUGIN_MANIFEST, build_zendesk, check, drift, logo, screenshot_placeholder, write_zip
from cli.package_rules import Finding, check_package, png_size

DAEMON = "https://sd.acme.example/socialdesk"
MANIFEST = json.loads(PLUGIN_MANIFEST.read_text())


@pytest.fixture()
def pkg(tmp_path: Path) -> Path:
    return build_zendesk(tmp_path / "app", DAEMON)


def edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    """Rewrite a package's JSON file after ``change`` edited it in place."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def errors(findings: list[Finding]) -> list[str]:
    return [f"{f.where}: {f.message}" for f in findings if f.level == "error"]


def warnings(findings: list[Finding]) -> list[str]:
    return [f"{f.where}: {f.message}" for f in findings if f.level == "warning"]


# ---------------------------------------------------------------- the generated package

def test_generated_package_passes_every_rule_and_matches_the_manifest(pkg: Path) -> None:
    assert check(pkg) == []


def test_generation_is_byte_for_byte_repeatable(tmp_path: Path, pkg: Path) -> None:
    again = build_zendesk(tmp_path / "again", DAEMON)
    files = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (pkg / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_manifest_comes_from_plugin_manifest(pkg: Path) -> None:
    app = json.loads((pkg / "manifest.json").read_text())
    assert app["name"] == MANIFEST["name"] and app["version"] == MANIFEST["version"]
    assert app["author"] == MANIFEST["author"]
    assert app["frameworkVersion"] == "2.0"
    assert app["location"] == {"support": {"ticket_sidebar": {"url": "assets/iframe.html", "flexible": True}}}
    assert app["domainWhitelist"] == ["sd.acme.example"]
    params = {p["name"]: p for p in app["parameters"]}
    assert params["api_token"]["secure"] is True and params["api_token"]["scopes"] == ["header"]
    assert "default" not in params["api_token"]
    assert params["daemon_url"] == {"name": "daemon_url", "type": "url", "required": True, "default": DAEMON}
    en = json.loads((pkg / "translations" / "en.json").read_text())["app"]
    assert en["short_description"] == MANIFEST["listing"]["short_description"]
    assert en["long_description"] == MANIFEST["listing"]["long_description"]
    assert set(en["parameters"]) == set(params) and all("label" in v for v in en["parameters"].values())


def test_requirements_declare_the_channel_integration_and_the_ticket_fields(pkg: Path) -> None:
    req = json.loads((pkg / "requirements.json").read_text())
    assert req["channel_integrations"] == {
        "socialdesk_channel": {"manifest_url": "https://sd.acme.example/socialdesk/channel/manifest.json"}}
    titles = {f["zendesk"]["ticket_field"]: f for f in MANIFEST["helpdesk_fields"]
              if "ticket_field" in f.get("zendesk", {})}
    assert {spec["title"] for spec in req["ticket_fields"].values()} == set(titles)
    network = req["ticket_fields"]["social_network"]
    assert network["type"] == "tagger"
    assert [o["value"] for o in network["custom_field_options"]] == titles["Social network"]["values"]


def test_settings_in_plugin_manifest_win_over_the_app_defaults(tmp_path: Path) -> None:
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["agent_ui"] = {"zendesk": {"location": "ticket_sidebar", "flexible": False, "private": True,
                                        "framework_version": "2.0"}}
    manifest["settings"] += [
        {"name": "daemon_url", "type": "url", "required": True, "targets": ["daemon", "zendesk_app"],
         "label": "Daemon"},
        {"name": "view_key", "type": "text", "secret": True, "required": True, "env": "SOCIALDESK_VIEW_KEY",
         "targets": ["zendesk_app"], "zendesk_scopes": ["header", "url"], "label": "View key"},
        {"name": "default_reply_mode", "type": "choice", "choices": ["public", "dm"], "default": "public",
         "targets": ["zendesk_app"], "label": "Default reply mode"}]
    out = build_zendesk(tmp_path / "app", DAEMON, manifest)
    app = json.loads((out / "manifest.json").read_text())
    assert [p["name"] for p in app["parameters"]] == ["daemon_url", "view_key", "default_reply_mode"]
    assert app["parameters"][1] == {"name": "view_key", "type": "text", "required": True, "secure": True,
                                    "scopes": ["header", "url"]}
    assert app["parameters"][2]["type"] == "text" and app["parameters"][2]["default"] == "public"
    assert app["location"]["support"]["ticket_sidebar"]["flexible"] is False
    assert check_package(out) == []


def test_no_secret_value_ever_reaches_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCIALDESK_AGENT_VIEW_TOKEN", "tok-9f8e7d6c5b4a")
    monkeypatch.setenv("SOCIALDESK_X_TOKEN", "xtok-1234567890")
    out = build_zendesk(tmp_path / "app", DAEMON)
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"tok-9f8e7d6c5b4a" not in data and b"xtok-1234567890" not in data, path
    js = (out / "assets" / "main.js").read_text()
    assert "'Bearer {{setting.api_token}}'" in js and "secure: true" in js


def test_images_have_the_sizes_zendesk_asks_for() -> None:
    assert png_size(logo(320, transparent=False)) == (320, 320)
    small = logo(128, transparent=True)
    assert png_size(small) == (128, 128) and small[25] == 6     # colour type 6: RGBA, transparency kept
    shot = screenshot_placeholder()
    assert png_size(shot) == (1024, 768) and len(shot) < 500 * 1024


def test_a_rebuild_replaces_what_an_earlier_build_left(tmp_path: Path) -> None:
    out = build_zendesk(tmp_path / "app", DAEMON)
    (out / "assets" / "old.js").write_text("1")
    build_zendesk(out, DAEMON)
    assert not (out / "assets" / "old.js").exists()


# ---------------------------------------------------------------- drift

def test_a_hand_edited_package_drifts_from_plugin_manifest(pkg: Path) -> None:
    edit_json(pkg / "manifest.json", lambda m: m.update(version="0.0.9"))
    found = drift(pkg)
    assert [f.where for f in found] == ["manifest.json"]
    assert found[0].message == 'version is "0.0.9"; plugin_manifest.json makes it "0.1.0"'
    assert check_package(pkg) == []            # still a valid Zendesk app: only the drift check sees it


def test_a_package_of_an_older_manifest_drifts(tmp_path: Path) -> None:
    older = json.loads(json.dumps(MANIFEST))
    older["listing"]["short_description"] = "Social posts as tickets."
    older["helpdesk_fields"] = [f for f in older["helpdesk_fields"] if f["key"] != "social_post_url"]
    out = build_zendesk(tmp_path / "app", DAEMON, older)
    found = {f"{f.where}: {f.message}" for f in drift(out)}
    assert "requirements.json: ticket_fields.social_post_url is absent; plugin_manifest.json makes it " \
           '{"type": "text", "title": "Social post URL"}' in found
    assert any(m.startswith("translations/en.json: app.short_description is") for m in found)


def test_extra_and_missing_files_are_drift(pkg: Path) -> None:
    (pkg / "assets" / "screenshot-0.png").unlink()
    (pkg / "assets" / "extra.js").write_text("void 0;\n")
    found = {(f.where, f.message) for f in drift(pkg)}
    assert ("assets/screenshot-0.png", "missing: plugin_manifest.json's package has it") in found
    assert ("assets/extra.js", "not in the package plugin_manifest.json makes") in found


def test_changed_sidebar_code_is_drift(pkg: Path) -> None:
    (pkg / "assets" / "main.js").write_text((pkg / "assets" / "main.js").read_text() + "\n// edited\n")
    assert [(f.where, f.level) for f in drift(pkg)] == [("assets/main.js", "error")]


# ---------------------------------------------------------------- Zendesk's rules, one broken at a time

def test_the_documented_minimal_sidebar_app_is_accepted(tmp_path: Path) -> None:
    """A hand-written app in the shape of Zendesk's basic scaffold: no generator involved."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "translations").mkdir()
    (tmp_path / "assets" / "iframe.html").write_text("<!DOCTYPE html><p>hi</p>\n")
    (tmp_path / "translations" / "en.json").write_text(json.dumps({"app": {"name": "Demo"}}))
    (tmp_path / "manifest.json").write_text(json.dumps({
        "name": "Demo", "author": {"name": "A", "email": "a@b.example", "url": "https://b.example"},
        "defaultLocale": "en", "private": True, "frameworkVersion": "2.0",
        "location": {"support": {"ticket_sidebar": {"url": "assets/iframe.html", "flexible": True},
                                 "top_bar": "http://localhost:4567/"}}}))
    assert errors(check_package(tmp_path)) == []


@pytest.mark.parametrize("change, expected", [
    (lambda m: m.pop("author"), "manifest.json: Missing required field in manifest: author"),
    (lambda m: m.update(frameworkVersion="1.0"),
     "manifest.json: frameworkVersion: 1.0 is not a valid framework version. Available versions are: 2.0."),
    (lambda m: m.update(frameworkVersion=2.0), "manifest.json: frameworkVersion: frameworkVersion must be a string"),
    (lambda m: m.pop("frameworkVersion"), "manifest.json: Missing required field in manifest: frameworkVersion"),
    (lambda m: m.update(private="yes"), 'manifest.json: private: private must be a boolean value, got "yes".'),
    (lambda m: m.update(defaultLocale="english"), "manifest.json: defaultLocale: english is not a valid default"),
    (lambda m: m.update(defaultLocale="fr"), "manifest.json: defaultLocale: Missing translation file for locale 'fr'"),
    (lambda m: m.update(location={"support": {"ticket_sidebar": {"url": "http://sd.acme.example/x"}}}),
     "manifest.json: location.support.ticket_sidebar.url: http://sd.acme.example/x is either an invalid location"),
    (lambda m: m.update(location={"support": {"ticket_sidebar": {"url": "http://127.0.0.1:4567/"}}}),
     "location.support.ticket_sidebar.url: http://127.0.0.1:4567/ is either an invalid location URI"),
    (lambda m: m.update(location={"support": {"ticket_sidebar": {"url": "assets/missing.html"}}}),
     "refers to a missing asset"),
    (lambda m: m.update(location={"support": {"ticket_sidebar": {"url": "iframe.html"}}}),
     "iframe.html is either an invalid location URI"),
    (lambda m: m.update(location={"support": {"ticket_sidebar": {"url": "assets/iframe.html", "flexible": "yes"}}}),
     "yes is an invalid type for the flexible location parameter."),
    (lambda m: m.update(location={"support": {"ticket_sidebar": {"url": ""}}}),
     "ticket_sidebar location does not specify a URI."),
    (lambda m: m.update(location={"support": {"ticket_side_bar": {"url": "assets/iframe.html"}}}),
     "ticket_side_bar is an invalid location in Support."),
    (lambda m: m.update(location={"desk": {"ticket_sidebar": {"url": "assets/iframe.html"}}}),
     "desk is an invalid host for apps."),
    (lambda m: m.update(location="ticket_sidebar"), "App locations need to be URLs for this framework version."),
    (lambda m: m.pop("location"), "Missing required field in manifest: location"),
    (lambda m: m.update(noTemplate=True), "noTemplate is deprecated"),
    (lambda m: m.update(requirementsOnly=True), "Locations can't be defined when you specify requirements only"),
    (lambda m: m["author"].update(url="ftp://x.example"), 'author url must be a valid URL, got "ftp://x.example".'),
    (lambda m: m.update(domainWhitelist="sd.acme.example"), "domainWhitelist need to be an array containing strings"),
    (lambda m: m.update(parameters={"name": "x"}), "App parameters must be an array."),
    (lambda m: m["parameters"].append({"name": "name"}), "Can't call a parameter 'name'"),
    (lambda m: m["parameters"].append(dict(m["parameters"][0])), "Duplicate app parameters defined: daemon_url"),
    (lambda m: m["parameters"].append({"name": "pw", "type": "password"}), "Password parameter type can no longer"),
    (lambda m: m["parameters"].append({"name": "mode", "type": "select"}), "select is an invalid parameter type."),
    (lambda m: m["parameters"].append({"name": "h", "type": "hidden", "required": True}),
     "h is set to hidden and cannot be required."),
    (lambda m: m["parameters"].append({"name": "o", "type": "oauth", "secure": True}),
     "oauth parameter cannot be set to be secure."),
    (lambda m: m["parameters"][0].update(scopes=["header"]),
     'parameters[name="daemon_url"].scopes cannot be defined in a non-secure parameter.'),
    (lambda m: m["parameters"][1].update(scopes=[]), 'parameters[name="api_token"].scopes cannot be empty.'),
    (lambda m: m["parameters"][1].update(scopes=["header", "cookie"]),
     'parameters[name="api_token"].scopes contains invalid values: cookie.'),
    (lambda m: m["parameters"][1].update(required="true"),
     'parameters[name="api_token"].required must be a boolean value'),
    (lambda m: m.update(oauth={"client_id": "c"}), "Missing required oauth fields in manifest: client_secret, "),
    (lambda m: m.update(experiments={"fancy": True}), "Manifest specifies unknown or unavailable experiment: fancy"),
])
def test_each_broken_manifest_rule_is_named(pkg: Path, change: Callable[[Any], Any], expected: str) -> None:
    edit_json(pkg / "manifest.json", change)
    found = errors(check_package(pkg))
    assert any(expected in line for line in found), found


def test_duplicate_manifest_keys_are_refused(pkg: Path) -> None:
    text = (pkg / "manifest.json").read_text()
    (pkg / "manifest.json").write_text(text.replace('"name": "socialdesk",', '"name": "socialdesk", "name": "x",', 1))
    assert errors(check_package(pkg)) == [
        "manifest.json: Duplicate keys are specified in the manifest.json file: name"]


def test_a_manifest_one_folder_down_is_named(tmp_path: Path, pkg: Path) -> None:
    outer = tmp_path / "zip_root"
    outer.mkdir()
    pkg.rename(outer / "app")
    assert errors(check_package(outer)) == [
        "manifest.json: Could not find manifest.json in the root of the zip file, but app/manifest.json was found. "
        "Try re-creating the archive from this directory."]


def test_broken_json_says_where(pkg: Path) -> None:
    (pkg / "manifest.json").write_text('{"name": ')
    [line] = errors(check_package(pkg))
    assert line.startswith("manifest.json: manifest.json is not proper JSON.")


@pytest.mark.parametrize("change, expected", [
    (lambda t: t["app"].pop("name"), "translations/en.json: Missing required key from translations/en.json: name"),
    (lambda t: t["app"]["parameters"]["api_token"].pop("label"),
     "translations/en.json: app.parameters.api_token: Missing required key label on leaf api_token"),
    (lambda t: t["app"].update(package={"x": 1}), "translations/en.json: 'name': 'socialdesk' is invalid for translation."),
])
def test_each_broken_translation_rule_is_named(pkg: Path, change: Callable[[Any], Any], expected: str) -> None:
    edit_json(pkg / "translations" / "en.json", change)
    found = errors(check_package(pkg))
    assert any(expected in line for line in found), found


def test_a_public_app_needs_the_whole_listing(pkg: Path) -> None:
    edit_json(pkg / "manifest.json", lambda m: m.update(private=False))
    edit_json(pkg / "translations" / "en.json", lambda t: [t["app"].pop(k) for k in
                                                          ("long_description", "installation_instructions")])
    assert errors(check_package(pkg)) == [
        "translations/en.json: Missing required key from translations/en.json: installation_instructions, "
        "long_description"]


def test_a_translation_file_must_be_named_by_a_locale(pkg: Path) -> None:
    (pkg / "translations" / "english.json").write_text("{}")
    assert "translations/english.json: translations/english.json is not a valid locale." in errors(check_package(pkg))


@pytest.mark.parametrize("change, expected", [
    (lambda r: r["channel_integrations"].update(other={"manifest_url": "https://b.example/m.json"}),
     "requirements.json: channel_integrations: Specifying multiple channel integrations in requirements.json is "
     "not supported."),
    (lambda r: r["channel_integrations"]["socialdesk_channel"].pop("manifest_url"),
     'requirements.json: channel_integrations.socialdesk_channel: Missing required fields in requirements.json: '
     '"manifest_url" is required in "socialdesk_channel"'),
    (lambda r: r["channel_integrations"]["socialdesk_channel"].update(manifest_url="http://sd.acme.example/m.json"),
     "channel_integrations.socialdesk_channel.manifest_url: http://sd.acme.example/m.json must be an https URL"),
    (lambda r: r["ticket_fields"]["social_post_url"].pop("title"),
     'requirements.json: ticket_fields.social_post_url: Missing required fields in requirements.json: "title" is '
     'required in "social_post_url"'),
    (lambda r: r.update(ticket_field={}), "requirements.json: requirements.json contains an invalid type: ticket_field"),
    (lambda r: r.update(targets={"t": {"title": "T", "type": "http_target"}}),
     "requirements.json: targets.t: requirements.json contains an invalid type: targets -> http_target"),
    (lambda r: r.update(webhooks={"w": {"name": "W", "endpoint": "https://b.example"}}),
     '"status" is required in "w"'),
    (lambda r: r.update(user_fields={"u": {"title": "U", "type": "text"}}), '"key" is required in "u"'),
])
def test_each_broken_requirement_rule_is_named(pkg: Path, change: Callable[[Any], Any], expected: str) -> None:
    edit_json(pkg / "requirements.json", change)
    found = errors(check_package(pkg))
    assert any(expected in line for line in found), found


def test_requirements_only_app_needs_its_requirements(pkg: Path) -> None:
    (pkg / "requirements.json").unlink()
    edit_json(pkg / "manifest.json", lambda m: [m.update(requirementsOnly=True), m.pop("location"),
                                                m.pop("frameworkVersion")])
    found = errors(check_package(pkg))
    assert "requirements.json: Could not find requirements.json" in found
    assert any("not required for marketingOnly or requirementsOnly apps" in line for line in found)


@pytest.mark.parametrize("param, expected", [
    ({"name": "api_key", "type": "text"}, "Make sure to set secure to true when using keys in Settings."),
    ({"name": "pin", "type": "text", "secure": True, "scopes": ["header"], "default": "1234"},
     "Default values for secure or hidden parameters are not stored securely."),
    ({"name": "signing", "type": "text", "secure": True}, "The scopes property is not configured"),
])
def test_secure_setting_warnings(pkg: Path, param: dict[str, Any], expected: str) -> None:
    edit_json(pkg / "manifest.json", lambda m: m["parameters"].append(param))
    edit_json(pkg / "translations" / "en.json", lambda t: t["app"]["parameters"].update({param["name"]: {"label": "x"}}))
    found = check_package(pkg)
    assert errors(found) == []
    assert any(expected in line for line in warnings(found)), warnings(found)


def test_text_files_are_scanned_for_secrets_and_plain_http(pkg: Path) -> None:
    js = pkg / "assets" / "main.js"
    js.write_text(js.read_text() + "\nvar client_secret = 'abc';\nfetch('http://sd.acme.example/x');\n"
                  "-----BEGIN RSA PRIVATE KEY-----\n")
    found = warnings(check_package(pkg))
    assert "assets/main.js: Possible secrets found in assets/main.js ('secret...'). Consider reviewing the " \
           "contents of this file before submitting your app." in found
    assert any(line.startswith("assets/main.js: Possible insecure HTTP request to http://sd.acme.example/x")
               for line in found)
    assert any("Possible private key found in assets/main.js" in line for line in found)


def test_blocked_file_types_are_refused_by_name_and_by_content(pkg: Path) -> None:
    (pkg / "assets" / "bundle.zip").write_bytes(b"PK\x03\x04rest")
    (pkg / "assets" / "vendor.js").write_bytes(b"\x1f\x8b\x08\x00gzipped")
    found = errors(check_package(pkg))
    assert "assets/bundle.zip, assets/vendor.js: Unsupported MIME types detected in assets/bundle.zip, " \
           "assets/vendor.js." in found


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_symlinks_are_refused(pkg: Path) -> None:
    (pkg / "assets" / "link.js").symlink_to(pkg / "assets" / "main.js")
    assert "assets/link.js: Symlinks are not allowed in the zip file" in errors(check_package(pkg))


def test_a_wrong_banner_is_refused(pkg: Path) -> None:
    (pkg / "assets" / "banner.png").write_bytes(logo(128, transparent=True))
    assert errors(check_package(pkg)) == [
        "assets/banner.png: Invalid banner image dimensions. Must be 830x200px."]


def test_listing_rules_warn_for_a_private_app_and_refuse_a_public_one(pkg: Path) -> None:
    (pkg / "assets" / "logo.png").write_bytes(logo(128, transparent=False))
    (pkg / "assets" / "screenshot-0.png").rename(pkg / "assets" / "screenshot-1.png")
    edit_json(pkg / "translations" / "en.json", lambda t: t["app"].update(short_description="x" * 81))
    edit_json(pkg / "manifest.json", lambda m: m.pop("domainWhitelist"))
    expected = {
        "assets/logo.png: must be a 320x320 PNG, got 128x128",
        "assets: screenshots must be numbered from 0 without gaps, got [1]",
        "translations/en.json: app.short_description: 81 characters; the Marketplace takes at most 80",
        "manifest.json: domainWhitelist: secure settings (api_token) are sent only to the domains listed here; "
        "list the daemon's host",
    }
    private = check_package(pkg)
    assert errors(private) == [] and set(warnings(private)) == expected
    edit_json(pkg / "manifest.json", lambda m: m.update(private=False))
    assert set(errors(check_package(pkg))) == expected


def test_a_name_with_zendesks_trademark_is_named(pkg: Path) -> None:
    edit_json(pkg / "translations" / "en.json", lambda t: t["app"].update(name="socialdesk for Zendesk"))
    assert "translations/en.json: app.name: an app's name must not use Zendesk's trademark (no 'for Zendesk')" \
        in warnings(check_package(pkg))


# ---------------------------------------------------------------- the command

def test_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "zd"
    assert main(["package", "zendesk", "-o", str(out), "--daemon-url", DAEMON + "/"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote the Zendesk app for {DAEMON} to {out}" in printed
    assert f"{out}: 0 error(s), 0 warning(s): Zendesk would accept it" in printed
    assert main(["package", "zendesk", "--check", str(out)]) == 0


def test_check_names_each_broken_rule_and_fails(pkg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_json(pkg / "manifest.json", lambda m: m.update(frameworkVersion="1.0"))
    assert main(["package", "zendesk", "--check", str(pkg)]) == 1
    printed = capsys.readouterr().out
    assert "ERROR   manifest.json: frameworkVersion: 1.0 is not a valid framework version." in printed
    assert f"{pkg}: 1 error(s), 0 warning(s)" in printed


def test_check_finds_drift_unless_told_not_to(pkg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_json(pkg / "manifest.json", lambda m: m.update(version="9.9.9"))
    assert main(["package", "zendesk", "--check", str(pkg)]) == 1
    assert 'manifest.json: version is "9.9.9"; plugin_manifest.json makes it "0.1.0"' in capsys.readouterr().out
    assert main(["package", "zendesk", "--check", str(pkg), "--no-drift"]) == 0


@pytest.mark.parametrize("argv, expected", [
    ([], "give --daemon-url https://"),
    (["--daemon-url", "http://sd.acme.example"], "is not an https URL"),
    (["--daemon-url", "https://sd.acme.example/?x=1"], "without a query or fragment"),
])
def test_command_refuses_a_daemon_url_zendesk_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         argv: list[str], expected: str) -> None:
    monkeypatch.delenv("SOCIALDESK_PUBLIC_URL", raising=False)
    assert main(["package", "zendesk", "-o", str(tmp_path / "zd"), *argv]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "zd").exists()


def test_command_takes_the_daemon_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCIALDESK_PUBLIC_URL", "https://env.acme.example")
    assert main(["package", "zendesk", "-o", str(tmp_path / "zd")]) == 0
    assert json.loads((tmp_path / "zd" / "manifest.json").read_text())["domainWhitelist"] == ["env.acme.example"]


def test_a_folder_holding_something_else_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "mine.txt").write_text("keep")
    assert main(["package", "zendesk", "-o", str(tmp_path), "--daemon-url", DAEMON]) == 2
    assert "holds other files and no app" in capsys.readouterr().err
    assert (tmp_path / "assets" / "mine.txt").read_text() == "keep"


def test_zip_is_ready_to_upload_and_checkable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "zd"
    assert main(["package", "zendesk", "-o", str(out), "--daemon-url", DAEMON, "--zip"]) == 0
    archive = tmp_path / "zd.zip"
    assert f"zipped for upload: {archive}" in capsys.readouterr().out
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "manifest.json" in names and "assets/iframe.html" in names and not any(n.startswith("zd/") for n in names)
    first = archive.read_bytes()
    assert main(["package", "zendesk", "-o", str(out), "--daemon-url", DAEMON, "--zip"]) == 0
    assert archive.read_bytes() == first
    assert main(["package", "zendesk", "--check", str(archive)]) == 0
    edit_json(out / "manifest.json", lambda m: m.update(version="0.0.1"))
    write_zip(out, archive)
    capsys.readouterr()
    assert main(["package", "zendesk", "--check", str(archive)]) == 1
    assert 'manifest.json: version is "0.0.1"' in capsys.readouterr().out


def test_a_zip_reaching_outside_its_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../outside.json", "{}")
    assert main(["package", "zendesk", "--check", str(archive)]) == 2
    assert "points outside the package" in capsys.readouterr().err
    assert not (tmp_path.parent / "outside.json").exists()
