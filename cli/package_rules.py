"""Zendesk's app package rules, checked offline.

``zcli apps:validate`` uploads the package to a live account, so socialdesk checks its own.
The rules model Zendesk's validator (the ``zendesk_apps_support`` gem, 4.52.0: manifest,
translations, requirements, secure settings, requests, secrets, MIME, banner, marketplace),
plus the Marketplace's listing rules (logos, screenshots, name, short description). Messages
keep Zendesk's wording where it has one, so an admin can search them.

Levels: ``error`` is what Zendesk refuses on upload; ``warning`` is what it shows and still
accepts. Listing rules are errors for a public app and warnings for a private one.
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

# AppVersion::TO_BE_SERVED: the only framework version Zendesk serves.
FRAMEWORK_VERSIONS = ("2.0",)
PRODUCTS = {"support": "zendesk", "chat": "zopim", "standalone_chat": "lotus_box", "sell": "sell"}
LOCATIONS = {
    "support": {"top_bar", "nav_bar", "ticket_sidebar", "new_ticket_sidebar", "user_sidebar",
                "organization_sidebar", "background", "modal", "ticket_editor", "system_top_bar"},
    "chat": {"chat_sidebar", "background"},
    "standalone_chat": {"nav_bar", "system_top_bar"},
    "sell": {"deal_card", "person_card", "company_card", "lead_card", "background", "modal", "dashboard",
             "note_editor", "call_log_editor", "email_editor", "top_bar", "visit_editor"},
}
PARAMETER_TYPES = ("text", "checkbox", "url", "number", "multiline", "hidden", "oauth")
SECURE_SCOPES = ("header", "body", "url", "jwt_secret_key", "jwt_claim", "basic_auth_username",
                 "basic_auth_password")
OAUTH_KEYS = ("client_id", "client_secret", "authorize_uri", "access_token_uri")
BOOLEAN_KEYS = ("requirementsOnly", "marketingOnly", "singleInstall", "signedUrls", "private")
STRING_KEYS = ("defaultLocale", "version", "frameworkVersion", "remoteInstallationURL", "termsConditionsURL",
               "gaID")
MARKETPLACE_EXPERIMENTS = ("hashParams", "newCssCompiler")
LOCALE = re.compile(r"^[a-z]{2,3}(-\w{2,3})?$")
PUBLIC_LISTING_KEYS = ("name", "short_description", "installation_instructions", "long_description")
REQUIREMENT_TYPES = ("automations", "channel_integrations", "custom_objects", "macros", "targets", "views",
                     "ticket_fields", "triggers", "user_fields", "organization_fields", "webhooks",
                     "custom_objects_v2")
MAX_REQUIREMENTS = 5000
WEBHOOK_KEYS = ("name", "status", "endpoint", "http_method", "request_format")
BLOCKED_TYPES = {"vnd.rar", "rar", "zip", "gzip", "pdf", "doc", "docx", "avi", "bin", "bz", "bz2", "csh", "sh",
                 "jar", "mp3", "mpeg", "odt", "pptx", "ppt", "xls", "xlsx", "7z"}
# What a sniffed file's first bytes make it, for the blocked types above.
MAGIC = ((b"PK\x03\x04", "zip"), (b"\x1f\x8b", "gzip"), (b"%PDF", "pdf"), (b"Rar!", "rar"),
         (b"7z\xbc\xaf\x27\x1c", "7z"), (b"BZh", "bz2"), (b"ID3", "mp3"), (b"\xd0\xcf\x11\xe0", "doc"))
# The asset types Zendesk serves (developer guide, "Styling": accepted asset types).
ASSET_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".js", ".htm", ".html", ".css", ".map", ".eot", ".woff",
               ".woff2", ".otf", ".ttf", ".json", ".xml", ".hbs", ".hdbs"}
# Secure settings: a parameter whose name says it holds a key should be secure.
SECURABLE = re.compile("token|key|pwd|password", re.IGNORECASE)
# Words Zendesk's secrets scan flags in text files (warnings: "Possible secrets found").
SECRET_WORDS = ("password", "secret", "secretToken", "secret_token", "auth_key", "authKey", "auth_pass",
                "authPass", "auth_user", "AuthUser", "api_key")
SECRET_SHAPES = (
    ("private key", re.compile(r"-----BEGIN (RSA |OPENSSH |DSA |EC |PGP )?PRIVATE KEY( BLOCK)?-----")),
    ("AWS access key id", re.compile(r"AKIA[0-9A-Z]{8,24}")),
    ("Slack token", re.compile(r"xox[pboa]-")),
    ("token", re.compile(r"[tT][oO][kK][eE][nN](?: [:\"=-]|[:\"=-]).*.[0-9a-zA-Z+_.-]{4,156}")),
    ("password", re.compile(r"[pP][aA][sS][sS][wW][oO][rR][dD].*.[0-9a-zA-Z+_.-]{4,156}")),
)
TEXT_FILE = re.compile(r".*(html?|xml|js|json?)$")
# Marketplace listing (developer docs, "Create assets"; Marketplace review).
LOGOS = {"assets/logo.png": (320, 320), "assets/logo-small.png": (128, 128)}
SCREENSHOT = re.compile(r"^assets/screenshot-(\d+)\.(png|jpe?g|gif)$")
SCREENSHOT_SIZES = ((1024, 768), (2048, 1536))
SCREENSHOT_BYTES = 500 * 1024
SHORT_DESCRIPTION_MAX = 80
BANNER_SIZES = ((830, 200), (1660, 400))


@dataclass(frozen=True)
class Finding:
    """One broken rule: where (a file, and a place in it), what, and how bad."""

    level: str          # "error" | "warning"
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level.upper():7} {self.where}: {self.message}"


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Zendesk parses manifest.json and requirements.json refusing a key given twice."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, or None when ``data`` is not one."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _files(root: Path) -> list[str]:
    """Every file the zip would hold, relative, as Zendesk reads it (``tmp/`` left out)."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("tmp/") or not (path.is_file() or path.is_symlink()):
            continue
        out.append(rel)
    return out


class _Check:
    """Collects the findings of one package."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.findings: list[Finding] = []
        self.files = _files(root)

    def error(self, where: str, message: str) -> None:
        self.findings.append(Finding("error", where, message))

    def warn(self, where: str, message: str) -> None:
        self.findings.append(Finding("warning", where, message))

    def has(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def read_json(self, rel: str, strict: bool) -> Any:
        """The file's JSON, or None with the error recorded."""
        try:
            text = (self.root / rel).read_text(encoding="utf-8")
            return json.loads(text, object_pairs_hook=_no_duplicates if strict else None)
        except _DuplicateKey as dup:
            self.error(rel, f"Duplicate keys are specified in the {rel} file: {dup}")
        except (ValueError, UnicodeDecodeError) as err:
            self.error(rel, f"{rel} is not proper JSON. {err}")
        return None


def check_package(root: str | Path) -> list[Finding]:
    """Every rule ``root`` (an unzipped app folder) breaks; an empty list when Zendesk would take it."""
    c = _Check(Path(root))
    if not c.has("manifest.json"):
        nested = next((f for f in c.files if re.fullmatch(r"[^/]+/manifest\.json", f)), None)
        if nested:
            c.error("manifest.json", f"Could not find manifest.json in the root of the zip file, but {nested} "
                                     "was found. Try re-creating the archive from this directory.")
        else:
            c.error("manifest.json", "Could not find manifest.json")
        return c.findings
    manifest = c.read_json("manifest.json", strict=True)
    if manifest is None:
        return c.findings
    if not isinstance(manifest, dict):
        c.error("manifest.json", "manifest is not proper JSON. It must be an object")
        return c.findings
    _manifest(c, manifest)
    manifest_ok = not any(f.level == "error" for f in c.findings)
    if manifest_ok:
        _marketplace(c, manifest)
        _source(c, manifest)
        _translations(c, manifest)
        _requirements(c, manifest)
        _secure_settings(c, manifest)
        _requests(c)
        _listing(c, manifest)
    _banner(c)
    _svg(c)
    _mime(c)
    _secrets(c)
    return c.findings


# ---------------------------------------------------------------- manifest.json

def _only(manifest: dict[str, Any]) -> bool:
    return bool(manifest.get("requirementsOnly")) or bool(manifest.get("marketingOnly"))


def _manifest(c: _Check, m: dict[str, Any]) -> None:
    where = "manifest.json"
    missing = [k for k in ("author", "defaultLocale") if m.get(k) is None]
    if missing:
        c.error(where, f"Missing required field{'s' if len(missing) > 1 else ''} in manifest: {', '.join(missing)}")
    for key in BOOLEAN_KEYS:
        if key in m and not isinstance(m[key], bool):
            c.error(f"{where}: {key}", f'{key} must be a boolean value, got "{m[key]}".')
    for key in STRING_KEYS:
        if key in m and m[key] is not None and not isinstance(m[key], str):
            c.error(f"{where}: {key}", f'{key} must be a string, got "{m[key]}".')
    author = m.get("author")
    if isinstance(author, dict):
        for key in ("name", "email", "url"):
            if author.get(key) is not None and not isinstance(author[key], str):
                c.error(f"{where}: author.{key}", f'author {key} must be a string, got "{author[key]}".')
        if isinstance(author.get("url"), str) and not _http_url(author["url"]):
            c.error(f"{where}: author.url", f'author url must be a valid URL, got "{author["url"]}".')
    elif author is not None:
        c.error(f"{where}: author", "author must be an object with name, email and url")
    if isinstance(m.get("termsConditionsURL"), str) and not _http_url(m["termsConditionsURL"]):
        c.error(f"{where}: termsConditionsURL",
                f'terms_conditions_url must be a valid URL, got "{m["termsConditionsURL"]}".')
    if "experiments" in m and not isinstance(m["experiments"], dict):
        c.error(f"{where}: experiments", "The manifest field experiments needs to be key-value pairs with string "
                                         f"keys, but it was {type(m['experiments']).__name__}")
    whitelist = m.get("domainWhitelist")
    if whitelist is not None and not (isinstance(whitelist, list) and all(isinstance(d, str) for d in whitelist)):
        c.error(f"{where}: domainWhitelist",
                "The manifest field domainWhitelist need to be an array containing strings")
    locale = m.get("defaultLocale")
    if isinstance(locale, str):
        if not LOCALE.match(locale):
            c.error(f"{where}: defaultLocale", f"{locale} is not a valid default locale.")
        elif not c.has(f"translations/{locale}.json"):
            c.error(f"{where}: defaultLocale", f"Missing translation file for locale '{locale}'.")
    _oauth(c, m)
    _parameters(c, m)
    if _only(m):
        if m.get("location"):
            c.error(f"{where}: location", "Locations can't be defined when you specify requirements only")
        if m.get("frameworkVersion") is not None:
            c.error(f"{where}: frameworkVersion",
                    "Framework versions can't be set when you specify requirements only")
        if m.get("marketingOnly") and m.get("private", True):
            c.error(f"{where}: private", "Marketing-only apps must not be private")
    else:
        _locations(c, m)
        version = m.get("frameworkVersion")
        if version is None:
            c.error(where, "Missing required field in manifest: frameworkVersion")
        elif version not in FRAMEWORK_VERSIONS:
            c.error(f"{where}: frameworkVersion", f"{version} is not a valid framework version. Available versions "
                                                  f"are: {', '.join(FRAMEWORK_VERSIONS)}.")
    if "noTemplate" in m:
        c.error(f"{where}: noTemplate", "noTemplate is deprecated and cannot be used with framework version 2 or "
                                        "above. Set the autoLoad or autoHide property for each location instead.")


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _oauth(c: _Check, m: dict[str, Any]) -> None:
    oauth = m.get("oauth")
    if oauth is None:
        return
    missing = [k for k in OAUTH_KEYS if not (isinstance(oauth, dict) and oauth.get(k))]
    if missing:
        c.error("manifest.json: oauth", f"Missing required oauth field{'s' if len(missing) > 1 else ''} in "
                                        f"manifest: {', '.join(missing)}")
    params = m.get("parameters") if isinstance(m.get("parameters"), list) else []
    if not any(isinstance(p, dict) and p.get("type") == "oauth" for p in params):
        c.error("manifest.json: oauth", "Missing parameter of type 'oauth'.")


def _parameters(c: _Check, m: dict[str, Any]) -> None:
    params = m.get("parameters")
    if params is None:
        return
    if not isinstance(params, list):
        c.error("manifest.json: parameters", "App parameters must be an array.")
        return
    if m.get("marketingOnly") and params:
        c.error("manifest.json: parameters", "Parameters can't be defined for marketing-only apps")
        return
    names = [p.get("name") if isinstance(p, dict) else None for p in params]
    dupes = sorted({str(n) for n in names if names.count(n) > 1})
    if dupes:
        c.error("manifest.json: parameters", f"Duplicate app parameters defined: {', '.join(dupes)}")
    oauth = 0
    for p in params:
        if not isinstance(p, dict):
            c.error("manifest.json: parameters", f"each parameter must be an object, got {p!r}")
            continue
        at = f'manifest.json: parameters[name="{p.get("name")}"]'
        kind = p.get("type", "text")
        if p.get("name") == "name":
            c.error(at, "Can't call a parameter 'name'")
        for key in ("required", "secure"):
            if key in p and not isinstance(p[key], bool):
                c.error(f"{at}.{key}", f'parameters[name="{p.get("name")}"].{key} must be a boolean value, '
                                       f'got "{p[key]}".')
        if kind == "password":
            c.error(f"{at}.type", "Password parameter type can no longer be used. Use Secure settings instead.")
        elif kind not in PARAMETER_TYPES:
            c.error(f"{at}.type", f"{kind} is an invalid parameter type.")
        if kind == "hidden" and p.get("required"):
            c.error(at, f"{p.get('name')} is set to hidden and cannot be required.")
        if kind == "oauth":
            oauth += 1
            if p.get("secure"):
                c.error(at, "oauth parameter cannot be set to be secure.")
        scopes = p.get("scopes")
        if scopes is not None:
            field = f'parameters[name="{p.get("name")}"].scopes'
            if not p.get("secure"):
                c.error(f"{at}.scopes", f"{field} cannot be defined in a non-secure parameter.")
            if not isinstance(scopes, list):
                c.error(f"{at}.scopes", f"The manifest field {field} needs to be an array, but it was "
                                        f"{type(scopes).__name__}")
            elif not scopes:
                c.error(f"{at}.scopes", f"{field} cannot be empty.")
            else:
                bad = [s for s in scopes if s not in SECURE_SCOPES]
                if bad:
                    c.error(f"{at}.scopes", f"{field} contains invalid values: {', '.join(map(str, bad))}.")
    if oauth > 1:
        c.error("manifest.json: parameters", "Too many parameters with type 'oauth': one permitted")


def _locations(c: _Check, m: dict[str, Any]) -> None:
    where = "manifest.json: location"
    location = m.get("location")
    if not location:
        c.error("manifest.json", "Missing required field in manifest: location")
        return
    if not isinstance(location, dict):
        c.error(where, "App locations need to be URLs for this framework version.")
        return
    legacy = {legacy: name for name, legacy in PRODUCTS.items()}
    for host, places in location.items():
        product = legacy.get(host, host)
        if product not in PRODUCTS:
            c.error(f"{where}.{host}", f"{host} is an invalid host for apps.")
            continue
        if not isinstance(places, dict):
            c.error(f"{where}.{host}", "App locations need to be URLs for this framework version.")
            continue
        unknown = [name for name in places if name not in LOCATIONS[product]]
        if unknown:
            c.error(f"{where}.{host}", f"{', '.join(unknown)} {'is an invalid location' if len(unknown) == 1 else 'are invalid locations'} "
                                       f"in {product.capitalize()}.")
        for name, options in places.items():
            at = f"{where}.{host}.{name}"
            if not isinstance(options, dict):
                options = {"url": options}
            url = options.get("url")
            if isinstance(url, str) and url:
                if not _location_url_ok(c, url):
                    c.error(f"{at}.url", f"{url} is either an invalid location URI, refers to a missing asset, "
                                         "or does not use HTTPS.")
            elif options.get("autoLoad", True):
                c.error(at, f"{name} location does not specify a URI.")
            if "flexible" in options and not isinstance(options["flexible"], bool):
                c.error(f"{at}.flexible", f"{options['flexible']} is an invalid type for the flexible location "
                                          "parameter.")


def _location_url_ok(c: _Check, url: str) -> bool:
    if "{{setting." in url:
        return True     # filled in per installation; Zendesk does not check it
    parts = urlsplit(url)
    if parts.scheme:
        return parts.scheme == "https" or parts.hostname == "localhost"
    return parts.path.startswith("assets/") and c.has(parts.path)


# ---------------------------------------------------------------- after a valid manifest

def _marketplace(c: _Check, m: dict[str, Any]) -> None:
    for rel in c.files:
        if (c.root / rel).is_symlink():
            c.error(rel, "Symlinks are not allowed in the zip file")
    experiments = m.get("experiments") or {}
    for name, on in experiments.items():
        if on and name not in MARKETPLACE_EXPERIMENTS:
            c.error("manifest.json: experiments", f"Manifest specifies unknown or unavailable experiment: {name}")


def _source(c: _Check, m: dict[str, Any]) -> None:
    if _only(m) and any(f.endswith((".js", ".jsx")) or f.startswith("templates/") for f in c.files):
        c.error("manifest.json", "Javascripts, stylesheets, and templates are not required for marketingOnly or "
                                 "requirementsOnly apps")


def _translations(c: _Check, m: dict[str, Any]) -> None:
    public = m.get("private", True) is False
    for rel in c.files:
        found = re.fullmatch(r"translations/(.*)\.json", rel)
        if not found:
            continue
        if not LOCALE.match(found.group(1)):
            c.error(rel, f"{rel} is not a valid locale.")
            continue
        data = c.read_json(rel, strict=False)
        if data is None:
            continue
        if not isinstance(data, dict):
            c.error(rel, f"{rel} is not a JSON object.")
            continue
        app = data.get("app") if isinstance(data.get("app"), dict) else {}
        for name, leaf in (app.get("parameters") or {}).items():
            if not (isinstance(leaf, dict) and "label" in leaf):
                c.error(f"{rel}: app.parameters.{name}", f"Missing required key label on leaf {name} from {rel}")
        if "package" in app:
            # A translation source (one with app.package) holds only {title, value} leaves.
            source = {**data, "app": {k: v for k, v in app.items() if k != "package"}}
            problem = next(_translation_format(source), None)
            if problem is not None:
                c.error(rel, f"{problem} is invalid for translation.")
        if rel == "translations/en.json":
            keys = {"short_description" if k == "description" else k for k in app}
            missing = [k for k in (PUBLIC_LISTING_KEYS if public else ("name",)) if k not in keys]
            if missing:
                c.error(rel, f"Missing required key from {rel}: {', '.join(missing)}")
    labels = {}
    if c.has("translations/en.json"):
        data = c.read_json("translations/en.json", strict=False)
        if isinstance(data, dict) and isinstance(data.get("app"), dict):
            labels = data["app"].get("parameters") or {}
    for p in m.get("parameters") or []:
        if isinstance(p, dict) and p.get("type") != "hidden" and p.get("name") not in labels:
            c.warn("translations/en.json", f"parameter {p.get('name')} has no label: the settings page shows its "
                                           "bare name")


def _translation_format(node: dict[str, Any]) -> Iterator[str]:
    """Each value must be an object: a ``{title, value}`` string pair or more of the same."""
    for key, value in node.items():
        if not isinstance(value, dict):
            yield f"'{key}': '{value}'"
        elif sorted(value) == ["title", "value"] and all(isinstance(v, str) for v in value.values()):
            continue
        else:
            yield from _translation_format(value)


def _requirements(c: _Check, m: dict[str, Any]) -> None:
    where = "requirements.json"
    products = set(m.get("location") or {}) if isinstance(m.get("location"), dict) else {"support"}
    if m.get("requirementsOnly") and not c.has(where):
        c.error(where, "Could not find requirements.json")
        return
    if not c.has(where):
        return
    if m.get("marketingOnly") or products & {"chat", "zopim"} == products and products:
        c.error(where, "App requirements are not supported for marketing-only or Chat-only apps")
        return
    req = c.read_json(where, strict=True)
    if req is None:
        return
    if not isinstance(req, dict):
        c.error(where, "requirements.json is not proper JSON. It must be an object")
        return
    bad = [k for k in req if k not in REQUIREMENT_TYPES]
    if bad:
        c.error(where, f"requirements.json contains {'an invalid type' if len(bad) == 1 else 'invalid types'}: "
                       f"{', '.join(bad)}")
    count = sum(len(v) if isinstance(v, (dict, list)) else 1 for v in req.values())
    if count > MAX_REQUIREMENTS:
        c.error(where, f"The requirements.json file contains too many requirements. The current limit is "
                       f"{MAX_REQUIREMENTS} requirements. This app has {count} requirements.")
    channels = req.get("channel_integrations")
    if isinstance(channels, dict):
        if len(channels) > 1:
            c.error(f"{where}: channel_integrations",
                    "Specifying multiple channel integrations in requirements.json is not supported.")
        for ident, spec in channels.items():
            url = spec.get("manifest_url") if isinstance(spec, dict) else None
            if url is None:
                c.error(f"{where}: channel_integrations.{ident}",
                        f'Missing required fields in requirements.json: "manifest_url" is required in "{ident}"')
            elif not (isinstance(url, str) and urlsplit(url).scheme == "https" and urlsplit(url).hostname):
                # The channel installer docs: the url must be HTTPS or creating requirements fails.
                c.error(f"{where}: channel_integrations.{ident}.manifest_url",
                        f"{url} must be an https URL: Zendesk fails to create the channel integration otherwise")
    for kind, group in req.items():
        if kind in ("channel_integrations", "custom_objects", "webhooks", "custom_objects_v2") \
                or not isinstance(group, dict):
            continue
        for ident, spec in group.items():
            if spec is not None and not (isinstance(spec, dict) and "title" in spec):
                c.error(f"{where}: {kind}.{ident}",
                        f'Missing required fields in requirements.json: "title" is required in "{ident}"')
            if kind in ("user_fields", "organization_fields") and isinstance(spec, dict) and "key" not in spec:
                c.error(f"{where}: {kind}.{ident}",
                        f'Missing required fields in requirements.json: "key" is required in "{ident}"')
            if kind == "targets" and isinstance(spec, dict) and spec.get("type") in ("http_target", "url_target_v2"):
                c.error(f"{where}: targets.{ident}",
                        f"requirements.json contains an invalid type: targets -> {spec['type']}")
    for ident, spec in (req.get("webhooks") or {}).items():
        for key in WEBHOOK_KEYS:
            if not (isinstance(spec, dict) and key in spec):
                c.error(f"{where}: webhooks.{ident}",
                        f'Missing required fields in requirements.json: "{key}" is required in "{ident}"')


def _secure_settings(c: _Check, m: dict[str, Any]) -> None:
    params = [p for p in m.get("parameters") or [] if isinstance(p, dict)]
    for p in params:
        at = f'manifest.json: parameters[name="{p.get("name")}"]'
        if SECURABLE.search(str(p.get("name", ""))) and p.get("type", "text") == "text" and not p.get("secure"):
            c.warn(at, "Make sure to set secure to true when using keys in Settings.")
        if "default" in p and (p.get("secure") or p.get("type") == "hidden"):
            c.warn(at, "Default values for secure or hidden parameters are not stored securely.")
        if p.get("secure") and not p.get("scopes"):
            c.warn(at, "The scopes property is not configured for this secure parameter. This may cause token "
                       "exposure vulnerabilities.")


def _requests(c: _Check) -> None:
    for rel in c.files:
        if not re.search(r"\.(jsx?|html?)$", rel):
            continue
        text = (c.root / rel).read_text(encoding="utf-8", errors="replace")
        urls = sorted(set(re.findall(r"http://[^\s'\"<>)]+", text)))
        if urls:
            c.warn(rel, f"Possible insecure HTTP request to {', '.join(urls)}. Consider using the HTTPS protocol "
                        "instead.")


def _listing(c: _Check, m: dict[str, Any]) -> None:
    """The Marketplace's rules: errors for a public app, warnings for a private one."""
    public = m.get("private", True) is False
    note = c.error if public else c.warn
    for rel, size in LOGOS.items():
        if not c.has(rel):
            note(rel, f"missing: the listing needs a {size[0]}x{size[1]} PNG")
            continue
        found = png_size((c.root / rel).read_bytes())
        if found != size:
            note(rel, f"must be a {size[0]}x{size[1]} PNG, got {'not a PNG' if found is None else '%dx%d' % found}")
    shots = sorted(int(mt.group(1)) for f in c.files if (mt := SCREENSHOT.match(f)))
    if public and not shots:
        note("assets", "no screenshot: the listing needs assets/screenshot-0.png at least")
    if shots and shots != list(range(len(shots))):
        note("assets", f"screenshots must be numbered from 0 without gaps, got {shots}")
    for rel in c.files:
        if not SCREENSHOT.match(rel):
            continue
        data = (c.root / rel).read_bytes()
        size = png_size(data)
        if size is not None and size not in SCREENSHOT_SIZES:
            note(rel, f"screenshots are 1024x768 or 2048x1536, got {size[0]}x{size[1]}")
        if len(data) > SCREENSHOT_BYTES:
            note(rel, f"screenshots are at most 500 KB, this one is {len(data) // 1024} KB")
    name = m.get("name") or ""
    if c.has("translations/en.json"):
        data = c.read_json("translations/en.json", strict=False) or {}
        app = data.get("app") if isinstance(data, dict) and isinstance(data.get("app"), dict) else {}
        name = app.get("name") or name
        short = app.get("short_description") or app.get("description") or ""
        if isinstance(short, str) and len(short) > SHORT_DESCRIPTION_MAX:
            note("translations/en.json: app.short_description",
                 f"{len(short)} characters; the Marketplace takes at most {SHORT_DESCRIPTION_MAX}")
    if re.search(r"zendesk", str(name), re.IGNORECASE):
        note("translations/en.json: app.name", "an app's name must not use Zendesk's trademark (no 'for Zendesk')")
    secure = [p.get("name") for p in m.get("parameters") or [] if isinstance(p, dict) and p.get("secure")]
    if secure and not m.get("domainWhitelist"):
        note("manifest.json: domainWhitelist", f"secure settings ({', '.join(map(str, secure))}) are sent only to "
                                                "the domains listed here; list the daemon's host")
    for rel in c.files:
        if rel.startswith("assets/") and Path(rel).suffix.lower() not in ASSET_TYPES:
            c.warn(rel, f"{Path(rel).suffix or 'no extension'} is not an asset type Zendesk serves")


# ---------------------------------------------------------------- whole package

def _banner(c: _Check) -> None:
    rel = "assets/banner.png"
    if not c.has(rel):
        return
    size = png_size((c.root / rel).read_bytes())
    if size is None:
        c.error(rel, "Banner image must be a PNG file.")
    elif size not in BANNER_SIZES:
        c.error(rel, "Invalid banner image dimensions. Must be 830x200px.")


def _svg(c: _Check) -> None:
    for rel in c.files:
        if rel.startswith("assets/") and rel.endswith(".svg"):
            text = (c.root / rel).read_text(encoding="utf-8", errors="replace")
            if re.search(r"<image\b", text):
                c.warn(rel, f"{rel} contains an embedded bitmap and cannot be used as an app icon.")
            if re.search(r"<script\b|\son\w+\s*=", text):
                c.warn(rel, f"The markup in {rel} has been edited for use in Zendesk and may not display as "
                            "intended.")


def _mime(c: _Check) -> None:
    blocked = []
    for rel in c.files:
        ext = Path(rel).suffix.lstrip(".").lower()
        head = (c.root / rel).read_bytes()[:8] if (c.root / rel).is_file() else b""
        sniffed = next((kind for magic, kind in MAGIC if head.startswith(magic)), None)
        if ext in BLOCKED_TYPES or sniffed in BLOCKED_TYPES:
            blocked.append(rel)
    if blocked:
        c.error(", ".join(blocked), f"Unsupported MIME type{'s' if len(blocked) > 1 else ''} detected in "
                                    f"{', '.join(blocked)}.")


def _secrets(c: _Check) -> None:
    for rel in c.files:
        if not TEXT_FILE.match(rel) or not (c.root / rel).is_file():
            continue
        text = (c.root / rel).read_text(encoding="utf-8", errors="replace")
        for label, shape in SECRET_SHAPES:
            if shape.search(text):
                c.warn(rel, f"Possible {label} found in {rel}. Consider reviewing the contents of this file "
                            "before submitting your app.")
        word = next((w for w in SECRET_WORDS if w in text), None)
        if word:
            c.warn(rel, f"Possible secrets found in {rel} ('{word}...'). Consider reviewing the contents of this "
                        "file before submitting your app.")
