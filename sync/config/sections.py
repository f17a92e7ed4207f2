"""Nested mappings of the mapping file as pydantic models: a section is validated as its
model, pydantic's own findings (unknown and missing keys) are worded socialdesk's way with
the model's keys and a did-you-mean, and checks across a section's keys run even when some
of its values are wrong, so every problem is reported at once."""
from __future__ import annotations

from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, ValidationInfo

from sync.config.fields import ERROR_TYPE, Found, fail, problems_of
from sync.config.text import did_you_mean
from sync.config.yaml_marks import describe

Checks = Callable[[dict[str, Any], Any, Found], None]


class Section(BaseModel):
    """A mapping with a fixed set of keys; ``KEYS`` lists them in the order messages name them."""

    # Attribute docstrings become descriptions only when the JSON Schema is made (schema.py):
    # reading them costs every start a quarter of a second.
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    KEYS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.__dict__.get("KEYS"):
            cls.KEYS = tuple(f.alias or name for name, f in cls.model_fields.items())

    @classmethod
    def required_keys(cls) -> tuple[str, ...]:
        return tuple(f.alias or name for name, f in cls.model_fields.items() if f.is_required())

    def given(self) -> dict[str, Any]:
        """The keys the mapping wrote, with their checked values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class Generated(Section):
    """Base of models built at run time from an adapter's declared settings (no source to read
    attribute docstrings from)."""

    model_config = ConfigDict(use_attribute_docstrings=False)


def translate(err: ValidationError, model: type[Section], found: Found) -> None:
    """pydantic's findings in ``model`` as socialdesk's problems, under the keys they concern."""
    for item in err.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        if kind == ERROR_TYPE:
            for problem in item["ctx"]["problems"]:
                found.problems.append(problem.under(loc))
        elif kind == "extra_forbidden":
            key = loc[-1]
            found.add(f"unknown key {key!r}; allowed: {', '.join(model.KEYS)}{did_you_mean(key, model.KEYS)}",
                      loc, "in")
        elif kind == "missing":
            found.add(f"missing required key {loc[-1]!r}", loc[:-1])
        else:  # not expected: every value has its own reader; still said where it is
            found.add(str(item["msg"]), loc)


def read(model: type[Section], value: Any, context: Any, checks: Checks | None = None) -> Section:
    """``value`` as ``model`` (null is an empty mapping when no key is required), or every problem."""
    if value is None and not model.required_keys():
        value = {}
    if not isinstance(value, dict):
        fail(f"expected a mapping with keys {', '.join(model.KEYS)}; got {describe(value)}")
    found = Found()
    result: Section | None = None
    try:
        result = model.model_validate(value, context=context)
    except ValidationError as err:
        translate(err, model, found)
    if checks is not None:
        checks(value, context, found)
    found.check()
    assert result is not None
    return result


def section(model: type[Section], checks: Checks | None = None) -> PlainValidator:
    """The validator of a key whose value is a ``model`` mapping (its schema too)."""

    def validate(value: Any, info: ValidationInfo) -> Section:
        return read(model, value, info.context, checks)

    return PlainValidator(validate, json_schema_input_type=model | None)


def leaf(reader: Callable[[Any], Any], schema: Any, *, nullable: bool = False) -> PlainValidator:
    """The validator of one value read by ``reader``; ``schema`` is what the JSON Schema shows."""

    def validate(value: Any) -> Any:
        return None if value is None and nullable else reader(value)

    return PlainValidator(validate, json_schema_input_type=schema | None if nullable else schema)


__all__ = ["Generated", "Section", "Found", "read", "section", "leaf", "translate", "problems_of"]
