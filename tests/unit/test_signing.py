"""daemon/delivery/signing.py: Standard Webhooks v1 signatures, checked by the reference library."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks import webhooks as standard

from daemon.delivery import signing

SECRET = "whsec_" + base64.b64encode(b"pledgewatch-unit-test-key-32byte").decode()
MESSAGE_ID = "msg_2fQZ5rJ1xXgS0"
SENT_AT = datetime(2016, 8, 1, 12, tzinfo=UTC)
TIMESTAMP = int(SENT_AT.timestamp())
BODY = '{"type":"commitment.due","data":{"commitment":{"title":"Проект конституции"}}}'.encode()


class _SentAt(datetime):
    """The receiver's clock, frozen a few seconds after the request was sent."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        return datetime(2016, 8, 1, 12, 0, 3, tzinfo=UTC).astimezone(tz)


@pytest.fixture(autouse=True)
def _receiver_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library checks the timestamp against its clock; time is an argument here too."""
    monkeypatch.setattr(standard, "datetime", _SentAt)


def headers(signature: str, timestamp: int = TIMESTAMP) -> dict[str, str]:
    return {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


class TestSignature:
    def test_it_is_a_v1_signature(self) -> None:
        value = signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY)
        version, digest = value.split(",")
        assert version == "v1"
        assert len(base64.b64decode(digest)) == 32

    def test_the_reference_library_verifies_it(self) -> None:
        value = signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY)
        assert standard.Webhook(SECRET).verify(BODY, headers(value)) == {
            "type": "commitment.due",
            "data": {"commitment": {"title": "Проект конституции"}},
        }

    def test_the_reference_library_refuses_it_for_a_changed_body(self) -> None:
        value = signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY)
        changed = BODY.replace(b"commitment.due", b"commitment.overdue")
        with pytest.raises(standard.WebhookVerificationError, match="No matching signature"):
            standard.Webhook(SECRET).verify(changed, headers(value))

    def test_the_reference_library_refuses_it_for_another_message_id(self) -> None:
        value = signing.signature(SECRET, "msg_other", TIMESTAMP, BODY)
        with pytest.raises(standard.WebhookVerificationError, match="No matching signature"):
            standard.Webhook(SECRET).verify(BODY, headers(value))

    def test_the_reference_library_refuses_it_for_another_timestamp(self) -> None:
        value = signing.signature(SECRET, MESSAGE_ID, TIMESTAMP - 1, BODY)
        with pytest.raises(standard.WebhookVerificationError, match="No matching signature"):
            standard.Webhook(SECRET).verify(BODY, headers(value))

    def test_the_reference_library_refuses_it_for_another_secret(self) -> None:
        other = "whsec_" + base64.b64encode(b"some-other-key-of-thirty-two-by").decode()
        value = signing.signature(other, MESSAGE_ID, TIMESTAMP, BODY)
        with pytest.raises(standard.WebhookVerificationError, match="No matching signature"):
            standard.Webhook(SECRET).verify(BODY, headers(value))

    def test_it_matches_the_reference_librarys_own_signature(self) -> None:
        expected = standard.Webhook(SECRET).sign(MESSAGE_ID, SENT_AT, BODY.decode())
        assert signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == expected
