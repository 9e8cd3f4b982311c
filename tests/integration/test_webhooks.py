"""daemon/store/webhooks.py against real databases: disabling, enabling, and enabling refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from daemon.store import connector, refusals, webhooks
from daemon.store.schema import WebhookState

NOW = datetime(2016, 3, 25, 9, 0, tzinfo=UTC)
CONFIGURED = ("desk", "ops")


def _disable(engine: Engine, name: str) -> None:
    with connector.write(engine) as conn:
        webhooks.disable(conn, name, reason="HTTP 410", now=NOW)


def _enable(engine: Engine, name: str) -> None:
    with connector.write(engine) as conn:
        webhooks.enable(conn, name, now=NOW + timedelta(hours=1), configured=CONFIGURED)


def _rows(engine: Engine) -> list[object]:
    with connector.read(engine) as conn:
        return list(conn.execute(select(WebhookState.__table__).order_by(WebhookState.name)))


def test_a_disabled_webhook_is_enabled_again(engine: Engine) -> None:
    _disable(engine, "desk")
    _enable(engine, "desk")
    with connector.read(engine) as conn:
        assert webhooks.disabled(conn) == {}


def test_a_webhook_not_disabled_is_refused_and_nothing_written(engine: Engine) -> None:
    _disable(engine, "desk")
    _enable(engine, "desk")
    before = _rows(engine)
    for name in ("desk", "ops"):  # enabled again; never disabled
        with pytest.raises(refusals.NothingToDo) as raised:
            _enable(engine, name)
        assert (
            str(raised.value) == f"webhook {name!r} is not disabled, so there is nothing to enable"
        )
    assert _rows(engine) == before


def test_an_unknown_name_is_refused_listing_the_configured_ones(engine: Engine) -> None:
    _disable(engine, "gone")  # disabled once, then taken out of the settings
    before = _rows(engine)
    for name in ("nosuch", "gone"):
        with pytest.raises(refusals.UnknownName) as raised:
            _enable(engine, name)
        assert str(raised.value) == f"webhook {name!r} is unknown (configured: desk, ops)"
    with (
        pytest.raises(refusals.UnknownName, match=r"\(configured: none\)"),
        connector.write(engine) as conn,
    ):
        webhooks.enable(conn, "desk", now=NOW, configured=())
    assert _rows(engine) == before
