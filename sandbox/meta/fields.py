"""The ``fields=`` expression of Graph API reads.

``id,message,from{id,name},comments.limit(5).summary(true){id,message},
reactions.type(LIKE).limit(0).summary(total_count).as(like),
mentioned_comment.comment_id(1789...){id,text}``: names, nested field lists in braces,
and modifiers ``.name(argument)`` before or after the braces.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.meta import errors


@dataclass
class Field:
    name: str
    mods: dict[str, str] = field(default_factory=dict)
    sub: list["Field"] | None = None

    @property
    def key(self) -> str:
        """The key the value is answered under (``.as(alias)`` renames it)."""
        return self.mods.get("as", self.name)


def parse(text: str | None) -> list[Field] | None:
    """The fields asked for, or None when the request names none (default fields)."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text)
    found = parser.fields()
    if parser.pos != len(text):
        raise errors.syntax_error(f"Expected end of string instead of \"{text[parser.pos]}\".")
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_space(self) -> None:
        while self._peek().isspace():
            self.pos += 1

    def _name(self) -> str:
        self._skip_space()
        start = self.pos
        while self._peek() and (self._peek().isalnum() or self._peek() in "_"):
            self.pos += 1
        if start == self.pos:
            found = self._peek() or "end of string"
            raise errors.syntax_error(f"Expected name instead of \"{found}\".")
        return self.text[start:self.pos]

    def _argument(self) -> str:
        depth, start = 1, self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    value = self.text[start:self.pos]
                    self.pos += 1
                    return value.strip()
            self.pos += 1
        raise errors.syntax_error("Expected \")\" instead of end of string.")

    def fields(self) -> list[Field]:
        found = [self.field()]
        self._skip_space()
        while self._peek() == ",":
            self.pos += 1
            self._skip_space()
            if self._peek() in ("", "}"):
                break  # a trailing comma, as Graph tolerates
            found.append(self.field())
            self._skip_space()
        return found

    def field(self) -> Field:
        item = Field(self._name())
        while True:
            self._skip_space()
            char = self._peek()
            if char == ".":
                self.pos += 1
                mod = self._name()
                if self._peek() != "(":
                    raise errors.syntax_error(f"Expected \"(\" instead of \"{self._peek()}\".")
                self.pos += 1
                item.mods[mod] = self._argument()
            elif char == "{":
                if item.sub is not None:
                    raise errors.syntax_error("Expected \",\" instead of \"{\".")
                self.pos += 1
                item.sub = self.fields()
                self._skip_space()
                if self._peek() != "}":
                    raise errors.syntax_error(f"Expected \"}}\" instead of \"{self._peek()}\".")
                self.pos += 1
            else:
                return item


def unparse(fields: list[Field] | None) -> str:
    """Fields back as text (for the ``next`` links of nested edges)."""
    if not fields:
        return ""
    parts = []
    for item in fields:
        text = item.name + "".join(f".{k}({v})" for k, v in item.mods.items()
                                   if k not in ("limit", "as"))
        if item.sub is not None:
            text += "{" + unparse(item.sub) + "}"
        parts.append(text)
    return ",".join(parts)
