"""The Facebook Page and Instagram adapters (adapters/social/facebook.py, instagram.py, meta.py).

First the parts that need no network, on recorded data: every RestFB webhook payload, the
python-facebook Graph responses, signatures, Meta's error table and usage headers. The
adapter used there points at a closed local port, so any call it makes fails as an
unreachable Meta does (RetriableError): parsing that should need no call is seen to make none.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.base import (
    AuthFailed, Change, Cursor, DuplicateContent, FatalError, Mention, NotFound, OutboundPost, RateLimited,
    RetriableError, Secret, SkippableError, Unparseable, WindowClosed, capabilities, post_key,
)
from adapters.social.facebook import FacebookPage
from adapters.social.instagram import InstagramAccount
from adapters.social.meta import (
    BATCH_MAX, GRAPH_URL, GRAPH_VERSION, BatchCall, MetaSettings, UsageBudget, cursor_time, decode_state,
    encode_state, graph_error, graph_time, next_after, usage_figures,
)
from openapi_check import CONTRACTS

SAMPLES = CONTRACTS / "meta" / "samples"
RESTFB = sorted((SAMPLES / "restfb").glob("*.json"))
PYFB = SAMPLES / "python-facebook"
OFFLINE = "http://127.0.0.1:9"     # nothing listens: a call fails at once
TOKEN = "EAAG-page-token-Zq9"
SECRET = "app-secret"


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _settings(page_id: str = "1234567890321", ig_user_id: str | None = "17841452691600098",
              **extra: Any) -> MetaSettings:
    return MetaSettings(page_id=page_id, page_token=Secret(TOKEN, "page_token"), app_id="42",
                        app_secret=Secret(SECRET, "app_secret"), verify_token=Secret("meatyhamhock", "verify_token"),
                        base_url=OFFLINE, ig_user_id=ig_user_id, **extra)


def _own_id(payload: dict[str, Any]) -> str:
    return str(payload["entry"][0]["id"])


def _account(payload: dict[str, Any]) -> FacebookPage | InstagramAccount:
    """The adapter a delivery is for: the Page or Instagram account its entries name."""
    if payload["object"] == "instagram":
        return InstagramAccount(_settings(ig_user_id=_own_id(payload)))
    return FacebookPage(_settings(page_id=_own_id(payload)))


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


# What each recorded delivery carries for the account it names. Deliveries whose items
# must be read from Meta (mentions, Instagram's short comment form) are further down.
EXPECTED: dict[str, list[tuple[str, ...]]] = {
    "webhooks__feed-comment-add-211.json": [],          # the Page's own comment
    "webhooks__feed-comment-add-25.json": [],
    "webhooks__feed-comment-add-with-photo.json": [],
    "webhooks__feed-comment-edited-25.json": [("edited", "facebook:post:900728623356296_900744590021366")],
    "webhooks__feed-comment-hide.json": [("hidden", "facebook:post:900728623356296_900744590021366")],
    "webhooks__feed-comment-unhide.json": [("unhidden", "facebook:post:900728623356296_900744590021366")],
    "webhooks__feed-comment-remove-25.json": [("deleted", "facebook:post:905578656204626_905579239537901")],
    "webhooks__feed-photo-add-message.json": [],        # the Page's own photo
    "webhooks__feed-post-add-25.json": [("mention", "1234567890321_7293787835232")],
    "webhooks__feed-post-edit.json": [("edited", "facebook:post:1234567890321_7293787835232")],
    "webhooks__feed-post-hide.json": [("hidden", "facebook:post:1234567890321_7293787835232")],
    "webhooks__feed-post-remove-25.json": [("deleted", "facebook:post:1234567890321_901097836652708")],
    "webhooks__feed-reaction-add.json": [],
    "webhooks__feed-status-add-25.json": [],            # the Page's own status
    "webhooks__feed-status-edited-25.json": [("edited", "facebook:post:1234567890321_949560725137650")],
    "webhooks__feed-two-entries-25.json": [],           # fields socialdesk does not read
    "webhooks__unknown-change-value.json": [],
    "webhooks__messaging-delivery-basic.json": [],
    "webhooks__messaging-read-basic.json": [],
    "webhooks__messaging-postback-basic.json": [],
    "webhooks__messaging-message-basic-echo.json": [],  # our own message
    "webhooks__standby-message-basic-echo.json": [],
    "webhooks__messaging-message-basic.json": [("dm", "mid.1457764197618:41d102a3e1ae206a38")],
    "webhooks__messaging-message-quickreply.json": [("dm", "mid.1458696618141:b4ef9d19ec21086067")],
    "webhooks__messaging-message-reply-1.json": [("dm", "mid.1457764197618:41d102a3e1ae206a38")],
    "webhooks__messaging-message-media-attachment.json": [("dm", "mid.1458696618141:b4ef9d19ec21086067")],
    "webhooks__messaging-message-edits.json": [("edited", "facebook:dm:mid.1457764197618:41d102a3e1ae206a38")],
    "webhooks__messaging-message-isdeleted.json": [("unsent", "facebook:dm:message_id")],
    "instagram__messaging-seen.json": [],
    "instagram__messaging-attachment-unsupported.json": [("dm", "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDUy"
                                                         "NjkxNjAwMDk4OjM0MDI4MjM2Njg0MTcxMDMwMDk0OTEyODUyNTYwOTEw"
                                                         "ODQ0ODU4MjozMDc2OTU4MTA5OTY0OTI5MzAzMjAwODc1MDUxMTE2MTM0NAZDZD")],
    "instagram__wh-comments-2021.json": [("comment", "123456789")],
}
# Deliveries that name only ids: the adapter reads the rest from Meta.
READS_META = {"webhooks__mention-comment-add.json", "webhooks__mention-post-add-real.json",
              "instagram__wh-comments.json", "instagram__wh-livecomments.json", "instagram__wh-mentions.json"}


def test_every_recorded_delivery_is_accounted_for() -> None:
    assert {p.name for p in RESTFB} == set(EXPECTED) | READS_META


def _shape(item: Any) -> tuple[str, ...]:
    if isinstance(item, Mention):
        return (item.kind, item.id)
    if isinstance(item, Change):
        return (item.what, item.target)
    raise AssertionError(f"unexpected {item!r}")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_delivery_reads_as_expected(name: str) -> None:
    payload = _load(SAMPLES / "restfb" / name)
    items = _account(payload).read_push(json.dumps(payload).encode())
    assert [_shape(i) for i in items] == EXPECTED[name]
    for item in items:
        assert item.network == ("instagram" if payload["object"] == "instagram" else "facebook")
        if isinstance(item, Mention):
            assert item.created_at is not None and item.created_at.tzinfo is not None
            assert isinstance(item.author.id, str) and item.author.id


@pytest.mark.parametrize("name", sorted(READS_META))
def test_delivery_naming_only_ids_reads_meta_and_is_redelivered_when_meta_is_away(name: str) -> None:
    payload = _load(SAMPLES / "restfb" / name)
    with pytest.raises(RetriableError):
        _account(payload).read_push(json.dumps(payload).encode())


def test_visitor_post_carries_author_text_and_thread() -> None:
    payload = _load(SAMPLES / "restfb" / "webhooks__feed-post-add-25.json")
    [post] = FacebookPage(_settings()).read_push(json.dumps(payload).encode())
    assert isinstance(post, Mention)
    assert post.author.id == "8423678347823" and post.author.handle == "John Doe" and post.author.name == "John Doe"
    assert post.text == "Let's check this" and post.conversation_id == post.id and post.in_reply_to is None
    assert post.created_at == _at(1454707020)         # no created_time: when Meta sent it
    assert post.url == "https://www.facebook.com/1234567890321/posts/7293787835232/"


def _customer_comment(sample: str) -> dict[str, Any]:
    """A recorded comment delivery as a customer's (the recordings' sender is the Page)."""
    payload = _load(SAMPLES / "restfb" / sample)
    value = payload["entry"][0]["changes"][0]["value"]
    value.pop("sender_id", None)
    value.pop("sender_name", None)
    value["from"] = {"id": "5550001", "name": "Ana Lima"}
    return payload


def test_customer_comment_is_a_comment_in_the_posts_thread() -> None:
    payload = _customer_comment("webhooks__feed-comment-add-211.json")
    [comment] = FacebookPage(_settings()).read_push(json.dumps(payload).encode())
    assert isinstance(comment, Mention) and comment.kind == "comment"
    assert comment.id == "901097836652708_903438993085259" and comment.text == "and the next one"
    assert comment.conversation_id == "1234567890321_901097836652708"
    assert comment.in_reply_to == "1234567890321_901097836652708"
    assert comment.author.handle == "Ana Lima" and comment.author.id == "5550001"
    assert comment.url == "https://www.facebook.com/1234567890321/posts/901097836652708/?comment_id=903438993085259"
    assert comment.created_at == _at(1449135003)
    assert comment.key == post_key("facebook", comment.id)


def test_comment_photo_is_media_read_again_through_the_comment() -> None:
    payload = _customer_comment("webhooks__feed-comment-add-with-photo.json")
    [comment] = FacebookPage(_settings()).read_push(json.dumps(payload).encode())
    assert isinstance(comment, Mention)
    [media] = comment.media
    assert media.kind == "image" and media.ref == "comment:901097836652708_903438993085259"
    assert media.url is not None and media.url.startswith("https://scontent-fra3-1.xx.fbcdn.net/")


def test_messenger_message_is_a_dm_keyed_by_the_customers_scoped_id() -> None:
    payload = _load(SAMPLES / "restfb" / "webhooks__messaging-message-reply-1.json")
    [dm] = FacebookPage(_settings(page_id="12345654332")).read_push(json.dumps(payload).encode())
    assert isinstance(dm, Mention) and dm.kind == "dm"
    assert dm.author.id == dm.conversation_id == "987654321432"     # numbers in the recording: strings here
    assert dm.author.handle == "987654321432"     # the name could not be read: the id stands in
    assert dm.text == "hello, world!" and dm.in_reply_to == "very_long_id_representing_the_original_message"
    assert dm.created_at == _at(1457764197.627)
    assert dm.key == "facebook:dm:mid.1457764197618:41d102a3e1ae206a38"


def test_message_attachments_are_media() -> None:
    payload = _load(SAMPLES / "restfb" / "webhooks__messaging-message-media-attachment.json")
    [dm] = FacebookPage(_settings(page_id="12345654332")).read_push(json.dumps(payload).encode())
    assert isinstance(dm, Mention) and dm.text == ""
    assert [(m.kind, m.ref, m.url) for m in dm.media] == [
        ("image", "message:mid.1458696618141:b4ef9d19ec21086067#0", "IMAGE_URL")]
    ig = _load(SAMPLES / "restfb" / "instagram__messaging-attachment-unsupported.json")
    [igdm] = _account(ig).read_push(json.dumps(ig).encode())
    assert isinstance(igdm, Mention) and igdm.network == "instagram" and igdm.author.id == "5614879045272581"
    assert igdm.media[0].kind == "file" and igdm.media[0].url.startswith("https://lookaside.fbsbx.com/")


def test_edit_and_unsend_are_changes_to_the_dm() -> None:
    page = FacebookPage(_settings(page_id="12345654332"))
    edits = _load(SAMPLES / "restfb" / "webhooks__messaging-message-edits.json")
    [edit] = page.read_push(json.dumps(edits).encode())
    assert isinstance(edit, Change) and edit.text == "hello, world!" and edit.at == _at(1457764197.627)
    assert edit.target == post_key("facebook", "mid.1457764197618:41d102a3e1ae206a38", dm=True)
    gone = _load(SAMPLES / "restfb" / "webhooks__messaging-message-isdeleted.json")
    [unsent] = page.read_push(json.dumps(gone).encode())
    assert isinstance(unsent, Change) and unsent.what == "unsent" and unsent.by == "987654321432"


def test_comment_edit_keeps_the_new_text_and_when() -> None:
    payload = _load(SAMPLES / "restfb" / "webhooks__feed-comment-edited-25.json")
    [edit] = FacebookPage(_settings()).read_push(json.dumps(payload).encode())
    assert isinstance(edit, Change) and edit.text == "Let's see the Webhooks in action :D"
    assert edit.at == _at(1448555737) and edit.by == "Tester"
    twice = Change(edit.network, edit.target, "edited", "later", _at(1448555999))
    assert twice.key != edit.key


def test_instagram_comment_names_its_parent_media_and_author() -> None:
    payload = _load(SAMPLES / "restfb" / "instagram__wh-comments-2021.json")
    [comment] = _account(payload).read_push(json.dumps(payload).encode())
    assert isinstance(comment, Mention) and comment.network == "instagram"
    assert comment.author.id == "1234536447" and comment.author.handle == "testuser"
    assert comment.author.profile_url == "https://www.instagram.com/testuser/"
    assert comment.in_reply_to == "987654321" and comment.conversation_id == "76543987"
    assert comment.created_at == _at(1519399307)


def test_own_instagram_comment_is_left_out() -> None:
    payload = _load(SAMPLES / "restfb" / "instagram__wh-comments-2021.json")
    payload["entry"][0]["id"] = "17841400000000001"
    payload["entry"][0]["changes"][0]["value"]["from"]["id"] = "17841400000000001"
    account = InstagramAccount(_settings(ig_user_id="17841400000000001"))
    assert account.read_push(json.dumps(payload).encode()) == []


def test_deliveries_for_another_account_or_network_are_left_out() -> None:
    post = _load(SAMPLES / "restfb" / "webhooks__feed-post-add-25.json")
    assert FacebookPage(_settings(page_id="999")).read_push(json.dumps(post).encode()) == []
    assert InstagramAccount(_settings()).read_push(json.dumps(post).encode()) == []
    ig = _load(SAMPLES / "restfb" / "instagram__wh-comments-2021.json")
    assert FacebookPage(_settings()).read_push(json.dumps(ig).encode()) == []


def test_not_a_delivery_is_a_value_error_saying_what_one_is() -> None:
    page = FacebookPage(_settings())
    for body in (b"not json", b"[]", b'{"object": "page"}', b'{"entry": []}', b'{"object": "page", "entry": {}}'):
        with pytest.raises(ValueError, match="'object' and 'entry'"):
            page.read_push(body)


def test_unreadable_item_is_unparseable_and_the_rest_still_read() -> None:
    broken = _customer_comment("webhooks__feed-comment-add-211.json")
    del broken["entry"][0]["changes"][0]["value"]["comment_id"]
    good = _load(SAMPLES / "restfb" / "webhooks__feed-post-add-25.json")
    broken["entry"].append(good["entry"][0])
    first, second = FacebookPage(_settings()).read_push(json.dumps(broken).encode())
    assert isinstance(first, Unparseable) and "comment_id" in first.reason and first.key.startswith("facebook:post:")
    assert isinstance(second, Mention) and second.kind == "mention"
    other = json.loads(json.dumps(broken))
    other["entry"][0]["changes"][0]["value"]["message"] = "something else"
    [again, _] = FacebookPage(_settings()).read_push(json.dumps(other).encode())
    assert isinstance(again, Unparseable) and again.key != first.key


# --------------------------------------------------------------------------- signatures


def test_signature_of_the_raw_body_is_accepted() -> None:
    page = FacebookPage(_settings())
    body = (SAMPLES / "restfb" / "webhooks__feed-post-add-25.json").read_bytes()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert page.verify_push({"X-Hub-Signature-256": signature}, body) is None
    assert page.verify_push({"x-hub-signature-256": signature.upper().replace("SHA256=", "sha256=")}, body) is None


def test_the_documented_check_value_holds() -> None:
    # shared/contracts CONTRACTS.md §11.1: secret "app-secret", body {"object":"page","entry":[]}.
    expected = "sha256=e6e9d7a842a48e17f43a34d6125d0d933e2aab92ee37f0993a4d493b50e3d438"
    assert FacebookPage(_settings()).verify_push({"X-Hub-Signature-256": expected},
                                                 b'{"object":"page","entry":[]}') is None


@pytest.mark.parametrize("headers, why", [
    ({}, "no X-Hub-Signature-256"),
    ({"X-Hub-Signature": "sha1=abc"}, "no X-Hub-Signature-256"),
    ({"X-Hub-Signature-256": "md5=abc"}, "not sha256="),
    ({"X-Hub-Signature-256": "sha256="}, "not sha256="),
    ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "does not match"),
])
def test_unsigned_or_badly_signed_delivery_is_refused_with_the_reason(headers: dict[str, str], why: str) -> None:
    reason = FacebookPage(_settings()).verify_push(headers, b'{"object":"page","entry":[]}')
    assert reason is not None and why in reason and SECRET not in reason


def test_a_changed_body_or_another_secret_is_refused() -> None:
    body = b'{"object":"page","entry":[]}'
    other = "sha256=" + hmac.new(b"another-secret", body, hashlib.sha256).hexdigest()
    page = FacebookPage(_settings())
    assert page.verify_push({"X-Hub-Signature-256": other}, body) is not None
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert page.verify_push({"X-Hub-Signature-256": good}, body + b" ") is not None
    unset = FacebookPage(MetaSettings(page_id="1", page_token=Secret(TOKEN), base_url=OFFLINE))
    assert "app_secret" in (unset.verify_push({"X-Hub-Signature-256": good}, body) or "")


def test_subscription_check_answers_the_challenge_only_to_our_token() -> None:
    page = FacebookPage(_settings())
    asked = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "meatyhamhock"}
    assert page.answer_subscription(asked, "meatyhamhock") == "1158201444"
    assert page.answer_subscription({**asked, "hub.verify_token": "other"}, "meatyhamhock") is None
    assert page.answer_subscription({**asked, "hub.mode": "unsubscribe"}, "meatyhamhock") is None
    assert page.answer_subscription({k: v for k, v in asked.items() if k != "hub.challenge"}, "meatyhamhock") is None
    assert page.answer_subscription(asked, "") is None


# --------------------------------------------------------------------------- Graph reads (recorded)


def test_graph_times_and_paging_as_recorded() -> None:
    assert graph_time("2021-08-10T18:45:03+0000") == datetime(2021, 8, 10, 18, 45, 3, tzinfo=timezone.utc)
    assert graph_time(1449135003) == _at(1449135003) and graph_time(1457764197627) == _at(1457764197.627)
    assert next_after(_load(PYFB / "facebook__comments__comments_p1.json")) == "after"
    assert next_after(_load(PYFB / "facebook__comments__comments_p2.json")) is None    # a previous, no next
    assert next_after(_load(PYFB / "instagram__medias__comments_p1.json")) == "after"
    assert next_after(_load(PYFB / "instagram__medias__comments_p2.json")) is None


def test_recorded_page_comment_reads_as_a_comment_once_its_author_is_there() -> None:
    row = _load(PYFB / "facebook__comments__comment_info.json")
    page = FacebookPage(_settings(page_id="19292868552"))
    post_id = "19292868552_10158371815748553"
    [unreadable] = page._comment_item(row, post_id)
    assert isinstance(unreadable, Unparseable) and "pages_read_user_content" in unreadable.reason
    [comment] = page._comment_item({**row, "from": {"id": "4242", "name": "Kun Liu"}}, post_id)
    assert isinstance(comment, Mention) and comment.kind == "comment"
    assert comment.id == "10158371815748553_10158371930463553" and comment.text == "This is really nice"
    assert comment.url == row["permalink_url"] and comment.created_at == datetime(2021, 7, 21, 21, 5, 14,
                                                                                   tzinfo=timezone.utc)
    assert comment.in_reply_to == post_id and comment.conversation_id == post_id
    assert page._comment_item({**row, "from": {"id": "19292868552", "name": "Meta"}}, post_id) == []


def test_recorded_comments_without_ids_are_unparseable_not_dropped() -> None:
    rows = _load(PYFB / "facebook__comments__comments_p1.json")["data"]
    page = FacebookPage(_settings(page_id="19292868552"))
    items = [i for row in rows for i in page._comment_item(row, "19292868552_10158407654328553")]
    assert len(items) == len(rows) and all(isinstance(i, Unparseable) for i in items)
    assert len({i.key for i in items}) == len(items)


def test_recorded_feed_post_by_a_visitor_is_a_mention() -> None:
    [row] = _load(PYFB / "facebook__posts__feeds_default_fields_p1.json")["data"][:1]
    page = FacebookPage(_settings(page_id="4"))
    [post] = page._visitor_post({**row, "from": {"id": "777", "name": "Visitor"}})
    assert isinstance(post, Mention) and post.kind == "mention" and post.id == row["id"]
    assert post.url == row["permalink_url"] and post.media[0].ref == f"post:{row['id']}"
    assert post.media[0].url == row["full_picture"]
    assert page._visitor_post({**row, "from": {"id": "4", "name": "the Page"}}) == []


def test_recorded_messages_read_as_dms_with_their_attachments() -> None:
    rows = _load(PYFB / "facebook__messages__messages_info.json")
    page = FacebookPage(_settings(page_id="2121008874780932"))
    dms = [page._dm_item(row) for row in rows.values()]
    assert all(isinstance(d, Mention) and d.kind == "dm" for d in dms)
    first = dms[0]
    assert isinstance(first, Mention)
    assert first.author.id == first.conversation_id == "2711636948859886" and first.author.handle == "Kun Liu"
    kinds = [m.kind for d in dms if isinstance(d, Mention) for m in d.media]
    assert kinds[:2] == ["image", "video"] and all(m.url for d in dms if isinstance(d, Mention) for m in d.media)
    assert first.media[0].ref == f"message:{first.id}#0"
    own = dict(next(iter(rows.values())), **{"from": {"id": "2121008874780932", "name": "MyLife"}})
    assert page._dm_item(own) is None


def test_recorded_instagram_comments_and_mentions() -> None:
    account = InstagramAccount(_settings(ig_user_id="17841406338772941"))
    row = _load(PYFB / "instagram__comments__comment_fields.json")
    [comment] = account._comment_item(row, "17846368219941692", "https://www.instagram.com/p/B8gQCApHMT-/")
    assert isinstance(comment, Mention) and comment.author.handle == "ikroskun"
    assert comment.url == "https://www.instagram.com/p/B8gQCApHMT-/c/17892250648466172/"
    assert comment.in_reply_to == comment.conversation_id == "17846368219941692"
    bare = _load(PYFB / "instagram__medias__comments_p1.json")["data"]
    assert all(isinstance(i, Unparseable) for row in bare for i in account._comment_item(row, "1", None))
    mentioned = _load(PYFB / "instagram__users__mentioned_comment.json")["mentioned_comment"]
    [mention] = account._comment_item(mentioned, "17889114512354744", None, kind="mention")
    assert isinstance(mention, Mention) and mention.kind == "mention" and mention.text == "@ikroskun good"
    tagged = _load(PYFB / "instagram__users__tagged_medias.json")["data"]
    media = account._media_mention({**tagged[0], "username": "someone"})
    assert media is not None and media.kind == "mention" and media.url == tagged[0]["permalink"]
    assert media.media[0].ref == f"igmedia:{tagged[0]['id']}" and media.media[0].kind == "image"


# --------------------------------------------------------------------------- errors


def _err(code: int | None, subcode: int | None = None, message: str = "boom", **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "fbtrace_id": "A1", **extra}
    if code is not None:
        error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def test_recorded_permission_error_is_fatal_on_a_read_and_skippable_on_a_write() -> None:
    body = _load(PYFB / "error.json")
    assert isinstance(graph_error(400, body, "read", write=False), FatalError)
    assert isinstance(graph_error(400, body, "post", write=True), SkippableError)
    assert "(#100) Pages Public Content Access" in str(graph_error(400, body, "read", write=False))


def test_expired_token_says_what_to_do_and_never_shows_the_token() -> None:
    err = graph_error(400, _err(190, 463, f"Error validating access token: {TOKEN} has expired"), "read feed",
                      write=False, redact=[TOKEN])
    assert isinstance(err, AuthFailed)
    text = str(err)
    assert "expired" in text and "long-lived Page token" in text and "system user token" in text
    assert TOKEN not in text and "****" in text


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001, 80002, 80006])
def test_throttling_codes_are_rate_limited(code: int) -> None:
    err = graph_error(400, _err(code), "read", write=False, retry_after=420.0)
    assert isinstance(err, RateLimited) and err.retry_after == 420.0
    assert isinstance(graph_error(400, _err(code), "read", write=False), RateLimited)


@pytest.mark.parametrize("status, body, kind", [
    (500, _err(2, message="Service temporarily unavailable"), RetriableError),
    (400, _err(1200, message="Temporary send message failure"), RetriableError),
    (400, _err(100, is_transient=True), RetriableError),
    (502, "<html>bad gateway</html>", RetriableError),
    (400, _err(10, 2018278, "(#10) This message is sent outside of allowed window."), WindowClosed),
    (400, _err(10, 2534022, "This message is sent outside of allowed window."), WindowClosed),
    (400, _err(10900, message="(#10900) Activity already replied to"), DuplicateContent),
    (400, _err(506, message="Duplicate status message"), DuplicateContent),
    (400, _err(803, message="(#803) Some of the aliases you requested do not exist"), NotFound),
    (400, _err(100, 33, "Unsupported get request. Object with ID '1' does not exist"), NotFound),
    (400, _err(200, message="(#200) Permissions error"), SkippableError),
    (403, _err(10, message="(#10) Application does not have permission for this action"), SkippableError),
    (400, _err(551, 1545041, "This person isn't available right now."), SkippableError),
])
def test_error_table(status: int, body: Any, kind: type) -> None:
    err = graph_error(status, body, "send", write=True)
    assert type(err) is kind


@pytest.mark.parametrize("body", [_err(200, message="(#200) Permissions error"),
                                  _err(10, message="(#10) Application does not have permission for this action")])
def test_a_permission_refused_on_a_read_names_the_permissions(body: Any) -> None:
    err = graph_error(403, body, "read comments", write=False)
    assert isinstance(err, AuthFailed) and "pages_read_user_content" in str(err) and "new token" in str(err)


def test_window_and_private_reply_refusals_say_so() -> None:
    err = graph_error(400, _err(10, 2018278), "send direct message", write=True)
    assert "messaging window has closed" in str(err)
    assert "one private reply per comment" in str(graph_error(400, _err(10900), "send private reply", write=True))


# --------------------------------------------------------------------------- usage


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_usage_below_the_share_lets_calls_through() -> None:
    clock = FakeClock()
    budget = UsageBudget(0.8, clock)
    budget.after("GET", "u", {"X-App-Usage": '{"call_count": 40, "total_cputime": 10, "total_time": 79}'})
    budget.before("GET", "u")
    assert budget.calls == 1


def test_usage_above_the_share_waits_before_meta_throttles() -> None:
    clock = FakeClock()
    budget = UsageBudget(0.8, clock)
    budget.after("GET", "u", {"X-Page-Usage": '{"call_count": 85, "total_cputime": 12, "total_time": 9}'})
    with pytest.raises(RateLimited) as caught:
        budget.before("GET", "u")
    assert 0 < caught.value.retry_after <= 300 and "85" in str(caught.value)
    clock.now += 301
    budget.before("GET", "u")


def test_business_use_case_estimate_is_minutes() -> None:
    clock = FakeClock()
    budget = UsageBudget(0.8, clock)
    header = json.dumps({"1234567890321": [{"type": "pages", "call_count": 100, "total_cputime": 30,
                                            "total_time": 30, "estimated_time_to_regain_access": 7}]})
    budget.after("GET", "u", {"X-Business-Use-Case-Usage": header})
    with pytest.raises(RateLimited) as caught:
        budget.before("GET", "u")
    assert caught.value.retry_after == 420.0
    assert usage_figures({"X-Business-Use-Case-Usage": header}) == {
        "X-Business-Use-Case-Usage 1234567890321 pages": {"call_count": 100.0, "total_cputime": 30.0,
                                                          "total_time": 30.0,
                                                          "estimated_time_to_regain_access": 7.0}}
    clock.now += 421
    budget.after("GET", "u", {"X-App-Usage": '{"call_count": 5}'})
    budget.before("GET", "u")


def test_unreadable_usage_headers_change_nothing() -> None:
    budget = UsageBudget(0.8, FakeClock())
    budget.after("GET", "u", {"X-App-Usage": "{not json", "X-Page-Usage": '"text"',
                              "X-Business-Use-Case-Usage": '{"1": [{"call_count": "ninety"}]}'})
    budget.before("GET", "u")
    assert budget.figures == {}


def test_a_share_of_one_waits_only_at_the_limit() -> None:
    budget = UsageBudget(1.0, FakeClock())
    budget.after("GET", "u", {"X-App-Usage": '{"call_count": 99}'})
    budget.before("GET", "u")
    budget.after("GET", "u", {"X-App-Usage": '{"call_count": 100}'})
    with pytest.raises(RateLimited):
        budget.before("GET", "u")


# --------------------------------------------------------------------------- the adapters' shape


def test_capabilities_limits_and_keys() -> None:
    expected = ("reads_mentions", "reads_dms", "remembers_account", "starts_at_time", "receives_pushes",
                "resolves_media", "keeps_rate_budget")
    assert capabilities(FacebookPage) == capabilities(InstagramAccount) == expected
    page, account = FacebookPage(_settings()), InstagramAccount(_settings())
    assert (page.max_reply_len, page.max_dm_len, account.max_reply_len, account.max_dm_len) == (8000, 2000, 2200, 1000)
    assert page.private_reply_window == 24 * 3600 and page.human_agent_window == 7 * 24 * 3600
    assert page.min_poll_interval >= 60 and account.min_poll_interval >= 60
    assert page.account_key() == "page 1234567890321" and account.account_key() == "instagram 17841452691600098"
    assert page.weighted_length("日本😀") == 3
    assert page.cursor_at(1700000000.9) == Cursor("t:1700000000")
    assert cursor_time(Cursor("t:1700000000")) == 1700000000.0
    assert cursor_time(Cursor("12345")) is None and cursor_time(Cursor(None)) is None


def test_from_config_keeps_secrets_secret() -> None:
    page = FacebookPage.from_config({"page_id": "1234567890321", "page_token": TOKEN, "app_secret": SECRET,
                                     "base_url": "https://graph.example/", "lookback_days": "3"})
    assert page.graph.root == f"https://graph.example/{GRAPH_VERSION}/"
    assert page.settings.lookback_days == 3 and page.settings.rate_share == 0.8
    for shown in (repr(page), str(page.settings), repr(page.graph), repr(page.settings.page_token)):
        assert TOKEN not in shown and SECRET not in shown
    assert FacebookPage.from_config({"page_id": "1", "page_token": Secret(TOKEN)}).graph.root == \
        f"{GRAPH_URL}/{GRAPH_VERSION}/"
    with pytest.raises(FatalError):
        FacebookPage.from_config({"page_id": "1"})
    with pytest.raises(FatalError):
        InstagramAccount.from_config({"page_id": "1", "page_token": TOKEN})


def test_settings_problems_name_what_is_wrong() -> None:
    assert FacebookPage.settings_problems({"page_id": "1234", "version": "v25.0", "lookback_days": "7"}) == []
    problems = FacebookPage.settings_problems({"page_id": "mybrand", "version": "25", "lookback_days": "90"})
    assert len(problems) == 3 and "numeric id" in problems[0] and "v25.0" in problems[1] and "30" in problems[2]
    assert InstagramAccount.settings_problems({"page_id": "1", "ig_user_id": "@brand"})
    assert "ig_user_id" in InstagramAccount.required_settings
    assert InstagramAccount.settings_schema["ig_user_id"] == "string"
    assert FacebookPage.settings_schema["page_token"] == "secret" and FacebookPage.settings_schema["app_secret"] == "secret"


def test_too_long_answers_are_refused_before_any_call() -> None:
    page, account = FacebookPage(_settings()), InstagramAccount(_settings())
    with pytest.raises(SkippableError):
        page.post(OutboundPost(text="x" * 8001, in_reply_to="1_2"))
    with pytest.raises(SkippableError):
        page.post(OutboundPost(text="x" * 2001, dm_recipient_id="42"))
    with pytest.raises(SkippableError):
        account.post(OutboundPost(text="x" * 2201, in_reply_to="1"))
    with pytest.raises(SkippableError):
        account.post(OutboundPost(text="x" * 1001, private_reply_to="1"))
    with pytest.raises(SkippableError):
        page.post(OutboundPost(text="nowhere to go"))
    with pytest.raises(RetriableError):            # within the limits: a call is made
        page.post(OutboundPost(text="x" * 8000, in_reply_to="1_2"))


def test_page_tokens_are_ours_and_batches_are_capped() -> None:
    state = {"phase": "feed", "start": 1, "after": "QVFI"}
    assert decode_state(encode_state(state)) == state
    with pytest.raises(FatalError):
        decode_state("%%%")
    assert BATCH_MAX == 50
    call = BatchCall("123_456/comments", {"filter": "stream", "since": 5, "after": None})
    assert call.relative_url() == "123_456/comments?filter=stream&since=5"


# =========================================================================== against the sandbox
#
# The adapters end to end over real HTTPS against sandbox/meta: what customers do goes
# through its control API, what socialdesk does through the adapters alone.

import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import Iterator  # noqa: E402
from urllib.parse import parse_qsl, urlsplit  # noqa: E402

import requests  # noqa: E402

from sandbox.server import Sandbox  # noqa: E402


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    sandbox = Sandbox(services=("meta",)).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


class MetaWorld:
    """The sandbox's Meta service: its info, its control API, its clock."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.info = sb.info()["services"]["meta"]
        self.url = self.info["url"]
        self.state = sb.app("meta").extensions["sandbox_state"]
        self.http = requests.Session()
        self.http.verify = sb.ca_bundle
        self.http.trust_env = False

    def values(self, **extra: Any) -> dict[str, Any]:
        return {"page_id": self.info["page_id"], "page_token": self.info["page_token"], "base_url": self.url,
                "version": self.info["version"], "ca_bundle": self.sb.ca_bundle,
                "app_secret": self.info["app_secret"], "verify_token": self.info["verify_token"],
                "ig_user_id": self.info["ig_user_id"], **extra}

    def facebook(self, **extra: Any) -> FacebookPage:
        page = FacebookPage.from_config(self.values(**extra))
        page.use_clock(self.state.clock.now)
        return page

    def instagram(self, **extra: Any) -> InstagramAccount:
        account = InstagramAccount.from_config(self.values(**extra))
        account.use_clock(self.state.clock.now)
        return account

    def network(self, kind: str, **extra: Any) -> FacebookPage | InstagramAccount:
        return self.facebook(**extra) if kind == "facebook" else self.instagram(**extra)

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", json=body, params=params)
        assert response.status_code < 300, response.text
        return response.json()

    def say(self, network: str, author: str, text: str, **extra: Any) -> dict[str, Any]:
        """A person posts, comments (``on``) or writes a DM (``dm=True``)."""
        return self.control("POST", "posts", {"network": network, "author": author, "text": text, **extra})

    def posts_by(self, author: str) -> list[dict[str, Any]]:
        return self.control("GET", "posts", author=author)["posts"]

    def advance(self, seconds: float) -> None:
        self.control("POST", "clock", {"advance": seconds})

    def graph_calls(self) -> list[dict[str, Any]]:
        return self.control("GET", "requests")["requests"]

    def graph(self, method: str, path: str, token: str | None = None, **params: Any) -> requests.Response:
        token = token or self.info["page_token"]
        return self.http.request(method, f"{self.url}/{self.info['version']}/{path}", params=params,
                                 headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def world(sb: Sandbox) -> MetaWorld:
    w = MetaWorld(sb)
    w.control("POST", "reset")
    return w


def _read_all(read: Any, cursor: Cursor) -> tuple[list[Any], Cursor, int]:
    items: list[Any] = []
    page = read(cursor, None)
    pages = 1
    items.extend(page.items)
    while page.next_page:
        page = read(cursor, page.next_page)
        items.extend(page.items)
        pages += 1
    return items, page.cursor, pages


def test_identity_and_token_check(world: MetaWorld) -> None:
    page, account = world.facebook(), world.instagram()
    me = page.whoami()
    assert me.id == world.info["page_id"] and me.handle == world.info["page_handle"] and me.network == "facebook"
    ig = account.whoami()
    assert ig.id == world.info["ig_user_id"] and ig.handle == world.info["ig_handle"]
    page.probe()
    account.probe()
    assert page.account_key() == f"page {world.info['page_id']}"


def test_refused_token_says_what_to_do_and_never_shows_itself(world: MetaWorld) -> None:
    bad = world.facebook(page_token="EAAbogus-token-Zq9")
    with pytest.raises(AuthFailed) as caught:
        bad.probe()
    assert "Zq9" not in str(caught.value) and "Zq9" not in repr(bad) and "Zq9" not in repr(bad.settings)
    assert "long-lived Page token" in str(caught.value)
    page = world.facebook()
    page.probe()
    world.control("POST", "tokens", {"action": "expire", "token": "page"})
    with pytest.raises(AuthFailed) as expired:
        page.probe()
    assert "expired" in str(expired.value)
    world.control("POST", "tokens", {"action": "restore", "token": "page"})
    world.control("POST", "tokens", {"action": "revoke", "token": "page"})
    with pytest.raises(AuthFailed):
        world.instagram().probe()


def test_facebook_reconciliation_reads_comments_replies_visitor_posts_and_mentions(world: MetaWorld) -> None:
    page = world.facebook()
    comment = world.say("facebook", "ana_fb", "my order #1234 never arrived 😡")
    reply = world.say("facebook", "bob_fb", "same here", on=comment["id"])
    ours = page.post(OutboundPost("So sorry, we are on it", in_reply_to=comment["id"]))
    visitor = world.say("facebook", "cara_fb", "Is the shop open on Sunday?", on=world.info["page_id"])
    mention = world.say("facebook", "dan_fb", f"@{world.info['page_handle']} great service today", on="timeline")
    items, cursor, _ = _read_all(page.fetch_mentions, Cursor())
    by_id = {i.id: i for i in items}
    assert len(by_id) == len(items) and ours.id not in by_id
    assert not [i for i in items if isinstance(i, Unparseable)]
    first = by_id[comment["id"]]
    assert first.kind == "comment" and first.text == "my order #1234 never arrived 😡"
    assert first.conversation_id == comment["post_id"] and first.in_reply_to == comment["post_id"]
    person = world.state.people[comment["author_id"]]
    assert first.author.id == person.id and first.author.handle == first.author.name == person.name
    assert first.url and first.created_at is not None
    second = by_id[reply["id"]]
    assert second.kind == "comment" and second.in_reply_to == comment["id"]
    assert second.conversation_id == comment["post_id"] and second.author.id == reply["author_id"]
    assert by_id[visitor["id"]].kind == "mention" and by_id[visitor["id"]].conversation_id == visitor["id"]
    assert by_id[mention["id"]].kind == "mention" and by_id[mention["id"]].author.id == mention["author_id"]
    assert cursor_time(cursor) is not None


def test_cursor_reads_what_came_after_and_rereads_are_stable(world: MetaWorld) -> None:
    page = world.facebook()
    first = world.say("facebook", "ana_fb", "first")
    world.advance(2)
    read, cursor, _ = _read_all(page.fetch_mentions, Cursor())
    assert first["id"] in {i.id for i in read}
    world.advance(2)
    later = world.say("facebook", "bob_fb", "second")
    world.advance(2)
    items, after, _ = _read_all(page.fetch_mentions, cursor)
    assert [i.id for i in items] == [later["id"]]
    again, _, _ = _read_all(page.fetch_mentions, cursor)
    assert [i.id for i in again] == [later["id"]]
    world.advance(2)
    world.control("DELETE", "requests")
    assert _read_all(page.fetch_mentions, after)[0] == []
    calls = world.graph_calls()
    assert calls and not [c for c in calls if c["method"] == "POST"], \
        "no comment was made since: no post's comments are read (its updated_time says so)"


def test_paging_returns_every_item_once(world: MetaWorld) -> None:
    page = world.facebook()
    target = world.say("facebook", "ana_fb", "thread starter")
    posted = {target["id"]}
    posted |= {world.say("facebook", f"cust{i}", f"comment {i}", on=target["post_id"])["id"] for i in range(110)}
    posted |= {world.say("facebook", f"visitor{i}", f"visit {i}", on=world.info["page_id"])["id"] for i in range(30)}
    items, _, pages = _read_all(page.fetch_mentions, Cursor())
    ids = [i.id for i in items]
    assert len(ids) == len(set(ids)) and set(ids) == posted
    assert pages >= 3      # two pages of the feed, then the mentions
    batches = [c for c in world.graph_calls() if c["method"] == "POST" and c["path"].rstrip("/").endswith(
        world.info["version"])]
    assert batches, "comments are read in batch calls"


def test_a_batch_holds_at_most_fifty_requests(world: MetaWorld) -> None:
    page = world.facebook()
    answers = page.graph.batch([BatchCall(world.info["page_id"], {"fields": "id"})] * 60, "read the Page")
    assert len(answers) == 60 and all(isinstance(a, dict) and a["id"] == world.info["page_id"] for a in answers)
    batches = [c for c in world.graph_calls() if c["method"] == "POST"]
    assert len(batches) == 2 and page.usage()["calls"] == 60


def test_the_read_reaches_back_lookback_days_at_most(world: MetaWorld) -> None:
    page = world.facebook(lookback_days="2")
    old = world.say("facebook", "cust_old", "an old visit", on=world.info["page_id"])
    world.advance(3 * 86400)
    new = world.say("facebook", "cust_new", "a new visit", on=world.info["page_id"])
    items, _, _ = _read_all(page.fetch_mentions, Cursor("t:0"))
    ids = {i.id for i in items}
    assert new["id"] in ids and old["id"] not in ids


def test_instagram_reconciliation_and_replies_to_the_top_level_comment(world: MetaWorld) -> None:
    account = world.instagram()
    comment = world.say("instagram", "ana_ig", "where is my parcel?")
    reply = world.say("instagram", "bob_ig", "mine too", on=comment["id"])
    tagged = world.say("instagram", "dan_ig", f"love it @{world.info['ig_handle']}", on="timeline", tagged=True)
    answer = account.post(OutboundPost("We're checking, sorry!", in_reply_to=reply["id"]))
    items, _, _ = _read_all(account.fetch_mentions, Cursor())
    by_id = {i.id: i for i in items}
    assert answer.id not in by_id
    assert by_id[comment["id"]].kind == "comment" and by_id[comment["id"]].author.handle == "ana_ig"
    assert by_id[comment["id"]].conversation_id == comment["post_id"]
    assert by_id[reply["id"]].in_reply_to == comment["id"]
    assert by_id[tagged["id"]].kind == "mention" and by_id[tagged["id"]].author.handle == "dan_ig"
    [mine] = [p for p in world.posts_by(world.info["ig_handle"]) if p["id"] == answer.id]
    assert mine["in_reply_to"] == comment["id"], "Instagram takes replies on the top-level comment"
    found = account.find_own_post(OutboundPost("We're checking, sorry!", in_reply_to=reply["id"]))
    assert found is not None and found.id == answer.id
    assert account.find_own_post(OutboundPost("never said", in_reply_to=reply["id"])) is None


def test_facebook_reply_is_found_again_after_a_lost_answer(world: MetaWorld) -> None:
    page = world.facebook()
    comment = world.say("facebook", "ana_fb", "help please")
    post = OutboundPost("We sent you a message", in_reply_to=comment["id"])
    assert page.find_own_post(post) is None
    world.control("POST", "faults", {"path_prefix": f"/{world.info['version']}/{comment['id']}/comments",
                                     "method": "POST", "kind": "drop_response", "count": 1})
    with pytest.raises(RetriableError):
        page.post(post)
    found = page.find_own_post(post)
    assert found is not None and found.in_reply_to == comment["id"]
    assert [p["id"] for p in world.posts_by(world.info["page_handle"]) if p["text"] == post.text] == [found.id]


@pytest.mark.parametrize("kind", ["facebook", "instagram"])
def test_direct_messages_in_and_out(world: MetaWorld, kind: str) -> None:
    net = world.network(kind)
    _, cursor, _ = _read_all(net.fetch_dms, Cursor())
    world.advance(2)
    sent = world.say(kind, "cust_dm", "my account number is 12345, please check", dm=True)
    items, after, _ = _read_all(net.fetch_dms, cursor)
    [dm] = [i for i in items if i.id == sent["id"]]
    assert dm.kind == "dm" and dm.author.id == dm.conversation_id == sent["author_id"]
    assert dm.text == "my account number is 12345, please check"
    answer = net.post(OutboundPost("Thanks, checking now", dm_recipient_id=dm.author.id))
    assert answer.dm and answer.conversation_id == dm.author.id
    world.advance(2)
    mine, _, _ = _read_all(net.fetch_dms, after)
    assert answer.id not in {m.id for m in mine}, "our own messages never come back in"
    found = net.find_own_post(OutboundPost("Thanks, checking now", dm_recipient_id=dm.author.id))
    assert found is not None and found.id == answer.id
    [record] = [p for p in world.posts_by(world.info[f"{'page' if kind == 'facebook' else 'ig'}_handle"])
                if p["id"] == answer.id]
    assert record["messaging_type"] == "RESPONSE"


@pytest.mark.parametrize("kind", ["facebook", "instagram"])
def test_messaging_windows(world: MetaWorld, kind: str) -> None:
    net = world.network(kind)
    sent = world.say(kind, "cust_late", "hello?", dm=True)
    world.advance(25 * 3600)
    with pytest.raises(WindowClosed) as closed:
        net.post(OutboundPost("Sorry for the wait", dm_recipient_id=sent["author_id"]))
    assert "24 hours" in str(closed.value) and "HUMAN_AGENT" in str(closed.value)
    tagged = net.post(OutboundPost("Sorry for the wait", dm_recipient_id=sent["author_id"], tag="HUMAN_AGENT"))
    handle = world.info["page_handle" if kind == "facebook" else "ig_handle"]
    [record] = [p for p in world.posts_by(handle) if p["id"] == tagged.id]
    assert record["messaging_type"] == "MESSAGE_TAG" and record["tag"] == "HUMAN_AGENT"
    world.advance(7 * 86400)
    with pytest.raises(WindowClosed) as late:
        net.post(OutboundPost("Still there?", dm_recipient_id=sent["author_id"], tag="HUMAN_AGENT"))
    assert "HUMAN_AGENT tag allows 7 days" in str(late.value)


@pytest.mark.parametrize("kind", ["facebook", "instagram"])
def test_one_private_reply_per_comment(world: MetaWorld, kind: str) -> None:
    net = world.network(kind)
    comment = world.say(kind, "cust_pr", "what's my order status?")
    post = OutboundPost("Let's take this to DMs", private_reply_to=comment["id"])
    assert net.find_own_post(post) is None
    first = net.post(post)
    assert first.dm and first.in_reply_to == comment["id"]
    with pytest.raises(DuplicateContent) as again:
        net.post(OutboundPost("One more thing", private_reply_to=comment["id"]))
    assert "one private reply" in str(again.value)
    found = net.find_own_post(post)
    assert found is not None and found.id == first.id


def test_private_reply_after_seven_days_is_refused(world: MetaWorld) -> None:
    page = world.facebook()
    comment = world.say("facebook", "cust_old", "anyone?")
    world.advance(8 * 86400)
    with pytest.raises(WindowClosed) as late:
        page.post(OutboundPost("Sorry we missed this", private_reply_to=comment["id"]))
    assert "within 7 days of the comment" in str(late.value)


def test_usage_past_the_share_slows_down_before_meta_throttles(world: MetaWorld) -> None:
    world.control("POST", "usage", {"bucket": "pages", "calls": 20, "seconds": 3600})
    page = world.facebook()
    made = 0
    with pytest.raises(RateLimited) as caught:
        for _ in range(40):
            page.probe()
            made += 1
    assert 0 < caught.value.retry_after <= 3600
    assert made < 20
    assert all(c["status"] < 400 for c in world.graph_calls()), "Meta never had to throttle"


def test_meta_throttle_is_rate_limited_with_its_estimate(world: MetaWorld) -> None:
    world.control("POST", "usage", {"bucket": "pages", "calls": 3, "seconds": 600})
    page = world.facebook(rate_share="1")
    with pytest.raises(RateLimited) as caught:
        for _ in range(10):
            page.probe()
    assert 60 <= caught.value.retry_after <= 600
    with pytest.raises(RateLimited):
        page.probe()       # held by the adapter: no call is made
    world.advance(601)
    page.probe()


def test_server_error_is_retriable(world: MetaWorld) -> None:
    page = world.facebook()
    world.control("POST", "faults", {"path_prefix": f"/{world.info['version']}/", "method": "GET", "count": 1,
                                     "code": 2, "status": 500})
    with pytest.raises(RetriableError):
        page.fetch_dms(Cursor())
    page.fetch_dms(Cursor())


def test_media_links_are_read_again_when_they_expire(world: MetaWorld) -> None:
    page = world.facebook()
    world.control("POST", "cdn", {"ttl": 60})
    sent = world.say("facebook", "cust_pic", "see the damage", dm=True, media=[{"type": "image"}])
    [dm] = [i for i in _read_all(page.fetch_dms, Cursor())[0] if i.id == sent["id"]]
    [media] = dm.media
    assert media.kind == "image" and media.ref.startswith("message:") and media.url
    assert world.http.get(media.url).status_code == 200
    world.advance(120)
    assert world.http.get(media.url).status_code == 403
    fresh = page.media_link(media.ref)
    assert fresh != media.url and world.http.get(fresh).status_code == 200
    with pytest.raises(NotFound):
        page.media_link("nothing:1")


def test_comment_and_media_attachments_resolve_to_fresh_links(world: MetaWorld) -> None:
    page, account = world.facebook(), world.instagram()
    comment = world.say("facebook", "cust_pic", "look at this", media=[{"type": "image"}])
    [read] = [i for i in _read_all(page.fetch_mentions, Cursor())[0] if i.id == comment["id"]]
    [media] = read.media
    assert media.ref == f"comment:{comment['id']}" and media.kind == "image"
    assert world.http.get(page.media_link(media.ref)).status_code == 200
    tagged = world.say("instagram", "cust_igpic", f"wearing @{world.info['ig_handle']}", on="timeline",
                       tagged=True, media=[{"type": "image"}])
    [shown] = [i for i in _read_all(account.fetch_mentions, Cursor())[0] if i.id == tagged["id"]]
    assert shown.media and shown.media[0].ref == f"igmedia:{tagged['id']}"
    assert world.http.get(account.media_link(shown.media[0].ref)).status_code == 200


# --------------------------------------------------------------------------- webhooks end to end


class Receiver:
    """socialdesk's webhook endpoint, reduced to the adapter's three calls."""

    def __init__(self, net: FacebookPage | InstagramAccount, verify_token: str) -> None:
        self.items: list[Any] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                params = dict(parse_qsl(urlsplit(self.path).query))
                answer = net.answer_subscription(params, verify_token)
                self._reply(200 if answer is not None else 403, answer or "refused")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                why = net.verify_push(dict(self.headers), body)
                with receiver.lock:
                    if why is not None:
                        receiver.refused.append(why)
                    else:
                        receiver.items.extend(net.read_push(body))
                self._reply(200 if why is None else 403, "ok")

            def _reply(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/meta/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _subscribe(world: MetaWorld, obj: str, fields: str, callback: str) -> None:
    app_token = world.info["app_token"]
    answer = world.graph("POST", f"{world.info['app_id']}/subscriptions", token=app_token, object=obj,
                         callback_url=callback, fields=fields, verify_token=world.info["verify_token"])
    assert answer.status_code == 200, answer.text
    answer = world.graph("POST", f"{world.info['page_id']}/subscribed_apps",
                         subscribed_fields="feed,mention,messages,message_echoes")
    assert answer.status_code == 200, answer.text


def _settle(world: MetaWorld) -> None:
    assert world.control("GET", "webhooks", wait=10)["idle"]


def test_page_webhooks_meet_the_reconciliation_on_the_same_keys(world: MetaWorld) -> None:
    page = world.facebook()
    receiver = Receiver(page, world.info["verify_token"])
    try:
        _subscribe(world, "page", "feed,mention,messages,message_echoes", receiver.url)
        comment = world.say("facebook", "ana_hook", "the app crashes")
        dm = world.say("facebook", "ana_hook", "and my card was charged twice", dm=True)
        visitor = world.say("facebook", "bob_hook", "hello page", on=world.info["page_id"])
        named = world.say("facebook", "dan_hook", f"@{world.info['page_handle']} fixed my laptop", on="timeline")
        named_in = world.say("facebook", "eve_hook", f"ask @{world.info['page_handle']}", on=named["id"])
        ours = page.post(OutboundPost("Looking into it", in_reply_to=comment["id"]))
        page.post(OutboundPost("Refund on its way", dm_recipient_id=dm["author_id"]))
        world.control("POST", f"posts/{comment['id']}/edit", {"text": "the app crashes on login"})
        world.control("POST", f"posts/{visitor['id']}/hide")
        world.control("POST", f"posts/{dm['id']}/unsend")
        _settle(world)
        pushed = list(receiver.items)
        assert receiver.refused == []
        mentions = {i.key: i for i in pushed if isinstance(i, Mention)}
        polled = {i.key: i for i in _read_all(page.fetch_mentions, Cursor())[0]}
        assert post_key("facebook", comment["id"]) in mentions and post_key("facebook", comment["id"]) in polled
        assert post_key("facebook", visitor["id"]) in mentions
        assert post_key("facebook", named["id"]) in mentions and post_key("facebook", named["id"]) in polled
        by_mention = mentions[post_key("facebook", named_in["id"])]
        assert by_mention.kind == "mention" and by_mention.author.id == named_in["author_id"]
        assert by_mention.conversation_id == named["id"] and by_mention.text.startswith("ask @")
        assert post_key("facebook", dm["id"], dm=True) in mentions
        assert post_key("facebook", ours.id) not in mentions, "our own comment is an echo"
        pushed_dm = mentions[post_key("facebook", dm["id"], dm=True)]
        assert pushed_dm.conversation_id == dm["author_id"] and pushed_dm.author.handle != dm["author_id"]
        changes = {(c.what, c.target) for c in pushed if isinstance(c, Change)}
        assert ("edited", post_key("facebook", comment["id"])) in changes
        assert ("hidden", post_key("facebook", visitor["id"])) in changes
        assert ("unsent", post_key("facebook", dm["id"], dm=True)) in changes
        assert len([i for i in pushed if isinstance(i, Mention) and i.kind == "dm"]) == 1, "no echo of our DM"
    finally:
        receiver.close()


def test_instagram_webhooks_carry_comments_mentions_and_messages(world: MetaWorld) -> None:
    account = world.instagram()
    receiver = Receiver(account, world.info["verify_token"])
    try:
        _subscribe(world, "instagram", "comments,mentions,messages", receiver.url)
        comment = world.say("instagram", "ana_ighook", "is this in stock?")
        ours = account.post(OutboundPost("Yes, in all sizes!", in_reply_to=comment["id"]))
        dm = world.say("instagram", "ana_ighook", "size M please", dm=True)
        mention = world.say("instagram", "bob_ighook", f"thanks @{world.info['ig_handle']}", on="timeline")
        elsewhere = world.say("instagram", "eve_ighook", "my new shoes", on="timeline")
        named = world.say("instagram", "fay_ighook", f"@{world.info['ig_handle']} do you ship these?",
                          on=elsewhere["id"])
        _settle(world)
        got = {i.key: i for i in receiver.items if isinstance(i, Mention)}
        assert post_key("instagram", comment["id"]) in got
        assert post_key("instagram", ours.id) not in got, "our own reply is an echo"
        assert post_key("instagram", dm["id"], dm=True) in got
        assert got[post_key("instagram", mention["id"])].kind == "mention"
        in_comment = got[post_key("instagram", named["id"])]
        assert in_comment.kind == "mention" and in_comment.author.handle == "fay_ighook"
        assert in_comment.conversation_id == elsewhere["id"] and "do you ship" in in_comment.text
        polled = {i.key for i in _read_all(account.fetch_mentions, Cursor())[0]}
        assert post_key("instagram", comment["id"]) in polled
    finally:
        receiver.close()


def test_a_forged_delivery_is_refused(world: MetaWorld) -> None:
    page = world.facebook()
    receiver = Receiver(page, world.info["verify_token"])
    try:
        body = json.dumps({"object": "page", "entry": []}).encode()
        forged = "sha256=" + hmac.new(b"not-the-app-secret", body, hashlib.sha256).hexdigest()
        answer = requests.post(receiver.url, data=body, headers={"X-Hub-Signature-256": forged})
        assert answer.status_code == 403 and receiver.refused and receiver.items == []
        wrong = requests.get(receiver.url, params={"hub.mode": "subscribe", "hub.challenge": "5",
                                                   "hub.verify_token": "guess"})
        assert wrong.status_code == 403
    finally:
        receiver.close()
