"""parse_config and load_config: YAML text -> a validated Config, or every problem at once."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from adapters.base import Secret
from sync.config.constants import SUPPORTED_VERSIONS
from sync.config.context import LoadContext
from sync.config.document import Document
from sync.config.fields import Found
from sync.config.sections import translate
from sync.config.text import listing
from sync.config.values import Config, ConfigError, EnvRef
from sync.config.yaml_marks import Marks, Reader, compose


def parse_config(text: str, source: str = "<string>", env: Mapping[str, str] | None = None, *,
                 allow_missing_env: bool = False, base_dir: str | Path | None = None) -> Config:
    """Validate mapping YAML ``text``; ``source`` names it in messages.

    ``allow_missing_env`` keeps unset ``{env: NAME}`` references as ``EnvRef`` (listed in
    ``Config.missing_env``) instead of failing, for ``socialdesk check`` to report.
    Relative paths in settings, and a relative SQLite state file, resolve against ``base_dir``
    when given (``load_config`` gives the mapping file's folder).
    """
    root = compose(text, source)
    marks = Marks(source, root)
    if not isinstance(root, MappingNode):
        raise ConfigError(f"{marks.where(root.start_mark)}: expected a mapping with version: 1, "
                          f"helpdesks, networks and routes; got {describe_node(root)}")
    _check_version(root, marks)
    reader = Reader(marks)
    data = reader.data(root)
    doc = LoadContext(marks, os.environ if env is None else env, allow_missing_env,
                      Path(base_dir) if base_dir is not None else None)
    found = Found()
    document: Document | None = None
    try:
        document = Document.model_validate(data, context=doc)
    except ValidationError as err:
        translate(err, Document, found)
    problems = [*reader.problems, *doc.problems, *found.problems]
    if problems:
        ordered = sorted((marks.render(p) for p in problems), key=lambda p: (p[0], p[1]))
        raise ConfigError([text for _, _, text in ordered])
    assert document is not None
    state = anchored_state(document.state, doc.base_dir) if doc.base_dir is not None else document.state
    return Config(version=document.version, state_url=state, helpdesks=document.helpdesks,
                  networks=document.networks, routes=document.routes, webhook=document.webhook,
                  source=source, missing_env=tuple(doc.missing_env))


def anchored_state(url: str | Secret | EnvRef, base_dir: Path) -> str | Secret | EnvRef:
    """The state URL with a relative SQLite file made absolute under ``base_dir``, so every
    command finds the same state wherever it is run from. Other URLs are returned as they are."""
    if isinstance(url, EnvRef):
        return url
    text = url.reveal() if isinstance(url, Secret) else url
    scheme, sep, rest = text.partition(":///")
    if not sep or scheme.split("+")[0] != "sqlite":
        return url
    database, query_sep, query = rest.partition("?")
    if database in ("", ":memory:") or database.startswith("file:") or Path(database).is_absolute():
        return url
    absolute = f"{scheme}:///{base_dir / database}{query_sep}{query}"
    return Secret(absolute, url.name) if isinstance(url, Secret) else absolute


def _check_version(root: MappingNode, marks: Marks) -> None:
    """Another version means another format: it is checked first, and alone, or the rest of
    such a file would only produce noise."""
    field = next(((k, v) for k, v in root.value if isinstance(k, ScalarNode) and k.value == "version"), None)
    supported = listing(map(str, SUPPORTED_VERSIONS))
    if field is None:
        raise ConfigError(f"{marks.where(root.start_mark)}: missing required key 'version'; "
                          f"this socialdesk reads version: {supported}")
    key, node = field
    version = Reader(marks).scalar(node) if isinstance(node, ScalarNode) else None
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        shown = repr(version) if isinstance(version, (str, int, float)) else describe_node(node)
        raise ConfigError(f"{marks.where(key.start_mark)}: version: unsupported version {shown}; "
                          f"supported: {supported}")


def describe_node(node: Node) -> str:
    """What a node is, in an admin's words (for problems found before reading the data)."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {"tag:yaml.org,2002:null": "null", "tag:yaml.org,2002:bool": "true/false",
            "tag:yaml.org,2002:int": "a number", "tag:yaml.org,2002:float": "a number"}.get(node.tag, "a string")


def load_config(path: str | Path, env: Mapping[str, str] | None = None, *,
                allow_missing_env: bool = False) -> Config:
    """Read and validate a mapping file; every problem is raised at once as ``ConfigError``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the mapping file: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the mapping file is not UTF-8 text") from None
    return parse_config(text, str(path), env, allow_missing_env=allow_missing_env,
                        base_dir=file.resolve().parent)
