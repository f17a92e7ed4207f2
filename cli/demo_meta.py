"""The demo's Facebook and Instagram act: a comment on each network and a Messenger DM become
tickets by Meta's webhooks; agents answer under the comments and by message; an edited
comment is noted on its ticket. Audited from the far side (the sandbox's Meta service)."""
from __future__ import annotations

from typing import Any, Callable

from sandbox.scenario import MetaPeople, People, wait_until

# The demo mapping's Meta networks and routes, by helpdesk kind: that helpdesk's own fields.
_TICKETS = {
    "zendesk": """      tags: [social, {kind}]
      group: Social care
      custom_fields: {{Social network: {kind}, Social post URL: "{{url}}", Reply deadline: "{{reply_deadline}}"}}""",
    "salesforce": """      entitlement: Social Care Standard
      custom_fields: {{Social_Network__c: {kind}, Social_Post_Url__c: "{{url}}"}}""",
}


def meta_networks() -> str:
    return "  brand_page: {kind: facebook, sandbox: true}\n  brand_instagram: {kind: instagram, sandbox: true}\n"


def meta_routes(helpdesk: str, kind: str) -> str:
    """Two routes: the Page and the Instagram account into ``helpdesk``."""
    routes = []
    for name, network, net_kind in (("facebook-support", "brand_page", "facebook"),
                                    ("instagram-support", "brand_instagram", "instagram")):
        routes.append(f"""\
  - name: {name}
    network: {network}
    helpdesk: {helpdesk}
    streams: [mentions, dms]
    ticket:
      subject: "{{network}} {{kind}} from {{author}}"
      priority: normal
{_TICKETS[kind].format(kind=net_kind)}
    mirror: {{enabled: true, max_age: 168h}}
""")
    return "".join(routes)


def play_meta(info: dict[str, Any], people: People, run_once: Callable[[], None],
              progress: Callable[[str], None], noun: str = "ticket") -> dict[str, Any]:
    """The act; returns what it counted (items, tickets, answers in place, lost, duplicates)."""
    meta = MetaPeople(info)

    def step() -> None:
        meta.delivered()
        run_once()

    def settle(what: str, condition: Callable[[], bool]) -> None:
        if not wait_until(condition, step):
            raise RuntimeError(f"the demo stalled waiting for {what}")

    def tickets(key: str) -> list[dict[str, Any]]:
        return [t for t in people.tickets() if t.get("external_id") == key]

    def ticket(key: str) -> dict[str, Any]:
        settle(f"a ticket for {key}", lambda: bool(tickets(key)))
        return tickets(key)[0]

    progress("11:00 on Facebook, Hana comments under the brand's post; on Instagram, Ivo asks under its "
             "photo; Jin writes on Messenger")
    hana = meta.say("facebook", "hana_fb", "Is the brass lamp back in stock?")
    ivo = meta.say("instagram", "ivo_ig", "Do you ship to Norway?")
    meta.say("facebook", "jin_dm", "My parcel arrived broken, what now?", dm=True)
    jin = meta.posts_by("jin_dm")[0]["id"]
    keys = {"hana": f"facebook:post:{hana}", "ivo": f"instagram:post:{ivo}", "jin": f"facebook:dm:{jin}"}
    opened = {who: ticket(key) for who, key in keys.items()}

    progress("11:05 agents answer: under each comment, and by Messenger")
    answers = {"hana": "Yes Hana, it is back since Monday.", "ivo": "We do, Ivo: 3 to 5 days to Norway.",
               "jin": "So sorry, Jin: a replacement is on its way, no need to send it back."}
    for who, text in answers.items():
        people.answer(opened[who]["id"], text)
    where = {"hana": (hana, False), "ivo": (ivo, False), "jin": (None, True)}

    def in_place() -> int:
        posts = meta.brand_posts()
        return sum(any(text in p["text"] and (p["dm"] if where[who][1] else p["in_reply_to"] == where[who][0])
                       for p in posts) for who, text in answers.items())

    settle("the answers on Facebook and Instagram", lambda: in_place() == len(answers))

    progress(f"11:10 Hana edits her comment: the edit is noted on her {noun}")
    meta.edit(hana, "Is the brass lamp back in stock? I need two.")
    settle("the edit's note", lambda: any("I need two" in c["body"] and not c["public"]
                                          for c in people.comments(opened["hana"]["id"])))
    brand = meta.brand_posts()
    sent = [p for p in brand if p.get("in_reply_to") or p.get("dm")]
    return {"items": len(keys), "tickets": sum(len(tickets(k)) >= 1 for k in keys.values()),
            "answered_in_place": in_place(),
            "lost": sum(not tickets(k) for k in keys.values()),
            "duplicates": sum(max(len(tickets(k)) - 1, 0) for k in keys.values())
            + sum(max(sum(text in p["text"] for p in sent) - 1, 0) for text in answers.values())}
