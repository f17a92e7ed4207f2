"""Graph nodes as the API shows them: field selection, nested fields and edges.

Each node type has value makers (one per field the stand-in knows a value for) and
edges; a field Meta's node spec has but the stand-in has no value for is left out, as Meta
leaves out empty fields; a field the spec lacks is error 100. The walker is here; the
node types are in ``render_facebook`` (Page, posts, comments), ``render_instagram``
(account, media, comments) and ``render_inbox`` (people, conversations, messages).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from sandbox.meta import errors
from sandbox.meta.constants import DEFAULT_FIELDS, MESSAGE_EDGES, MESSAGE_FIELDS, THREAD_EDGES
from sandbox.meta.fields import Field, unparse
from sandbox.meta.paging import Call, limit_of, link_for, page
from sandbox.meta.vocabulary import EDGES, FIELDS

if TYPE_CHECKING:
    from sandbox.meta.model import MetaState

Maker = Callable[[Field], Any]


# Nested objects that are not nodes of their own (Graph API reference: StoryAttachment,
# Message attachments).
ATTACHMENT_FIELDS = {
    "StoryAttachment": frozenset({"description", "description_tags", "media", "media_type",
                                  "target", "title", "type", "unshimmed_url", "url",
                                  "subattachments"}),
    "MessageAttachment": frozenset({"id", "image_data", "mime_type", "name", "size",
                                    "video_data", "file_url", "generic_template"}),
}


# People as a Page token sees them: the Messenger User Profile API (PSID) and the
# Instagram User Profile API (IGSID).
PERSON_FIELDS = {
    "User": frozenset({"id", "name", "first_name", "last_name", "profile_pic", "locale",
                       "timezone", "gender"}),
    "InstagramUser": frozenset({"id", "name", "username", "profile_pic", "follower_count",
                                "is_user_follow_business", "is_business_follow_user",
                                "is_verified_user"}),
}


def vocabulary(node: str) -> frozenset[str]:
    if node in PERSON_FIELDS:
        return PERSON_FIELDS[node]
    if node in ATTACHMENT_FIELDS:
        return ATTACHMENT_FIELDS[node]
    if node == "Message":
        return MESSAGE_FIELDS | MESSAGE_EDGES
    if node == "PagePost":
        return FIELDS["PagePost"] | FIELDS["Post"] | EDGES["PagePost"] | EDGES["Post"]
    extra = THREAD_EDGES if node == "UnifiedThread" else frozenset()
    return FIELDS.get(node, frozenset()) | EDGES.get(node, frozenset()) | extra


def pick(value: dict[str, Any], sub: list[Field] | None, node: str) -> dict[str, Any]:
    """A plain nested object cut to the subfields asked for."""
    if sub is None:
        return value
    out = {}
    for item in sub:
        if item.name not in value and item.name not in vocabulary(node):
            raise errors.nonexisting_field(item.name, node)
        if item.name in value:
            out[item.key] = value[item.name]
    return out


class Nodes:
    """The walker of ``MetaApi``'s node types (``self.state``): a node's fields and a page
    of an edge."""

    state: "MetaState"

    def node(self, node: str, fields: list[Field] | None, makers: dict[str, Maker]
             ) -> dict[str, Any]:
        wanted = fields if fields is not None else [Field(n) for n in DEFAULT_FIELDS[node]]
        known = vocabulary(node)
        out: dict[str, Any] = {}
        for item in wanted:
            maker = makers.get(item.name)
            if maker is None:
                if item.name not in known:
                    raise errors.nonexisting_field(item.name, node)
                continue
            value = maker(item)
            if value is not None:
                out[item.key] = value
        if fields is not None and "id" not in out and "id" in makers:
            out["id"] = makers["id"](Field("id"))  # Graph adds a node's id unasked
        return out

    def edge(self, call: Call, path: str, items: list[Any], key: Callable[[Any], Any],
             render: Callable[[Any, list[Field] | None], dict[str, Any]],
             spec: Field | None = None, summary: dict[str, Any] | None = None,
             default_limit: int = 25) -> dict[str, Any]:
        """A page of an edge, read as ``/{id}/{edge}`` (``spec`` None) or as a field
        (``comments.limit(5){id}``: the modifiers of ``spec`` are its parameters)."""
        if spec is None:
            params = call.params
            sub = self.fields_of(call)
            link = link_for(self.state.url, call, path)
        else:
            params = dict(spec.mods)
            sub = spec.sub
            extra = {k: v for k, v in spec.mods.items() if k not in ("as", "limit")}
            if spec.sub is not None:
                extra["fields"] = unparse(spec.sub)
            nested = Call("GET", call.version, path.split("/"), extra, call.token)
            link = link_for(self.state.url, nested, path, {"limit": params.get("limit", "")}
                            if params.get("limit") else None)
        limit = limit_of(params.get("limit"), default_limit)
        body = page(items, key, lambda i: render(i, sub), limit=limit,
                    after=params.get("after"), before=params.get("before"), link=link)
        wants_summary = str(params.get("summary", "")).lower() in ("true", "1", "total_count")
        if summary is not None and wants_summary:
            body["summary"] = summary
        return body

    @staticmethod
    def fields_of(call: Call) -> list[Field] | None:
        from sandbox.meta.fields import parse
        return parse(call.params.get("fields"))
