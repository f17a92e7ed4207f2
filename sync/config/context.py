"""What validating one mapping knows beyond a value itself: where things were written, the
environment, the endpoints read so far, and which route (and helpdesk kind) a value is in."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from adapters.base import Secret
from sync.config.constants import ENV_NAME_RE
from sync.config.fields import Found
from sync.config.secret_files import SecretFileError, read_secret_file, secret_path
from sync.config.values import EndpointConfig, EnvRef
from sync.config.yaml_marks import Loc, Marks, Problem, path_text


@dataclass
class LoadContext:
    """One parse_config call: what the document-level checks share, filled as they go."""

    marks: Marks
    env: Mapping[str, str]
    allow_missing_env: bool
    base_dir: Path | None
    missing_env: list[EnvRef] = field(default_factory=list)
    helpdesks: dict[str, EndpointConfig] = field(default_factory=dict)
    networks: dict[str, EndpointConfig] = field(default_factory=dict)
    classes: dict[tuple[str, str], Any] = field(default_factory=dict)  # (role, name) -> adapter class
    route_names: dict[str, Loc] = field(default_factory=dict)
    claimed: dict[tuple[str, str], str] = field(default_factory=dict)  # (network, stream) -> route
    # Problems placed by their full loc (environment and file references): raised with the rest.
    problems: list[Problem] = field(default_factory=list)

    def env_value(self, name: Any, loc: Loc, *, secret: bool) -> Secret | str | EnvRef | None:
        """The value ``{env: NAME}`` at ``loc`` (from the document's root) stands for: a Secret
        (str for a non-secret), an EnvRef when missing ones are allowed, or None, problem noted."""
        if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
            # Never echo the value: a secret pasted here by mistake would end up in a log.
            return self.problem("env: expects the NAME of an environment variable "
                                "(letters, digits and _, not starting with a digit), not a value", loc)
        value = self.env.get(name)
        if value:
            return Secret(value, name) if secret else value
        if self.allow_missing_env:
            ref = EnvRef(name, f"{self.marks.where(self.marks.mark(loc))}: {path_text(loc)}")
            self.missing_env.append(ref)
            return ref
        state = "is set but empty" if value == "" else "is not set"
        return self.problem(f"environment variable {name} {state}", loc)

    def file_value(self, path: Any, loc: Loc, *, secret: bool) -> Secret | str | None:
        """The value ``{file: PATH}`` at ``loc`` stands for: the file's text as a Secret (str
        for a non-secret), or None, problem noted. A relative PATH is in the mapping's folder."""
        try:
            file = secret_path(path, self.base_dir, self.env)
            value = read_secret_file(file)
        except SecretFileError as err:
            return self.problem(str(err), loc)
        return Secret(value, file.name) if secret else value

    def problem(self, message: str, loc: Loc) -> None:
        """Note a problem at ``loc`` (from the document's root), raised with the rest."""
        found = Found()
        found.add(message, loc)
        self.problems.extend(found.problems)


@dataclass
class RouteContext:
    """One route: its helpdesk (name and kind) and the adapter classes its settings are held to."""

    doc: LoadContext
    loc: Loc
    network: str | None
    helpdesk: str | None
    network_cls: Any
    helpdesk_cls: Any
    rule_names: dict[str, int] = field(default_factory=dict)

    @property
    def desk(self) -> tuple[str, str] | None:
        kind = self.doc.helpdesks[self.helpdesk].kind if self.helpdesk in self.doc.helpdesks else ""
        return (self.helpdesk, kind) if self.helpdesk and kind else None
