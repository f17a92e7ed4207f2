"""The mapping's JSON Schema, generated from the models (``socialdesk schema`` prints it), so an
editor can offer completion and flag mistakes as they are typed. The loader stays the judge:
it also checks what a schema cannot say (references between sections, adapter minimums)."""
from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, Literal, Optional, Union

from pydantic import Field, create_model

from sync.config.document import Document
from sync.config.endpoints import settings_model
from sync.config.sections import Generated, Section

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _endpoint_models(role: str) -> Any:
    """One model per adapter kind of ``role``: kind, sandbox and the adapter's own settings."""
    import adapters

    models = []
    for kind in adapters.kinds(role):
        try:
            cls = adapters.resolve(kind, role)
        except Exception:  # an adapter whose library is missing still gets its kind listed
            cls = None
        base = settings_model(kind, cls) if cls is not None else Generated
        models.append(create_model(
            f"{kind.capitalize()}{'Helpdesk' if role == 'helpdesk' else 'Network'}", __base__=base,
            __doc__=(getattr(cls, "__doc__", None) or f"A {kind} {role}").strip().splitlines()[0],
            kind=(Literal[kind], ...),  # type: ignore[valid-type]
            sandbox=(bool, False)))
    return Union[tuple(models)] if len(models) > 1 else models[0]  # type: ignore[return-value]


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """``name: type = ...`` followed by a string: that string, by name (what an editor shows)."""
    try:
        body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body  # type: ignore[attr-defined]
    except (OSError, TypeError, SyntaxError, IndexError, AttributeError):
        return {}
    return {a.target.id: inspect.cleandoc(b.value.value) for a, b in zip(body, body[1:])
            if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(b, ast.Expr)
            and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)}


def _sections(cls: type[Section]) -> list[type[Section]]:
    out = []
    for sub in cls.__subclasses__():
        if not issubclass(sub, Generated):
            out += [sub, *_sections(sub)]
    return out


_described = False


def _describe_fields() -> None:
    """Give every section's keys their docstrings as descriptions, once, then rebuild the models."""
    global _described
    if _described:
        return
    models = _sections(Section)
    for model in models:
        for name, doc in _attribute_docstrings(model).items():
            field = model.model_fields.get(name)
            if field is not None and field.description is None:
                field.description = doc
    for model in models:
        model.model_rebuild(force=True)
    _described = True


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of mapping.yaml."""
    _describe_fields()
    mapping = create_model(
        "Mapping", __base__=Document, __doc__=Document.__doc__,
        helpdesks=(Optional[dict[str, _endpoint_models("helpdesk")]],
                   Field(None, description=Document.model_fields["helpdesks"].description)),
        networks=(Optional[dict[str, _endpoint_models("social")]],
                  Field(None, description=Document.model_fields["networks"].description)))
    schema = mapping.model_json_schema(mode="validation")
    # routes has no default: the loader's marker for "not written" is no value to offer.
    schema["properties"]["routes"].pop("default", None)
    schema["required"] = [*schema.get("required", ()), "routes"]
    schema["$schema"] = DRAFT
    schema["title"] = "socialdesk mapping"
    return {"$schema": schema.pop("$schema"), **schema}
