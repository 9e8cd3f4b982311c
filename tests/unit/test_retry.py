"""daemon/delivery/retry.py: what follows one attempt to deliver a notice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.delivery import retry
from daemon.delivery.retry import Decision, Outcome

NOW = datetime(2016, 8, 1, 12, tzinfo=UTC)
SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30))
FAILED = Outcome(503, "HTTP 503", 12.0)


def middle() -> float:
    """A jitter source that lands on the exact wait (factor 1)."""
    return 0.5


def decide(attempts: int, outcome: Outcome, *, permanent: bool = False) -> Decision:
    if permanent:
        outcome = replace(outcome, permanent=True)
    return retry.decide(attempts, outcome, NOW, SCHEDULE, middle)


class TestOutcome:
    @pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
    def test_a_2xx_answer_is_ok(self, status: int) -> None:
        assert Outcome(status, None, 1.0).ok

    @pytest.mark.parametrize("status", [100, 199, 300, 301, 304, 400, 404, 410, 429, 500, 503])
    def test_any_other_answer_is_not_ok(self, status: int) -> None:
        assert not Outcome(status, None, 1.0).ok

    def test_an_error_before_any_answer_is_not_ok(self) -> None:
        assert not Outcome(None, "timed out after 15s", 15000.0).ok

    def test_the_console_sink_with_no_status_and_no_error_is_ok(self) -> None:
        assert Outcome(None, None, 0.1).ok


class TestDecide:
    @pytest.mark.parametrize("status", [200, 204, 299])
    def test_a_2xx_answer_is_delivered(self, status: int) -> None:
        assert decide(1, Outcome(status, None, 1.0)) == Decision("delivered")

    def test_a_printed_console_notice_is_delivered(self) -> None:
        assert decide(1, Outcome(None, None, 0.1)) == Decision("delivered")

    @pytest.mark.parametrize(
        "outcome",
        [
            Outcome(301, "HTTP 301", 1.0),
            Outcome(404, "HTTP 404", 1.0),
            Outcome(500, "HTTP 500", 1.0),
            Outcome(None, "ConnectError: connection refused", 2.0),
        ],
        ids=["3xx", "4xx", "5xx", "connection-refused"],
    )
    def test_a_failure_is_retried_after_the_first_wait(self, outcome: Outcome) -> None:
        assert decide(1, outcome) == Decision("pending", NOW + timedelta(seconds=5))

    @pytest.mark.parametrize(
        ("attempts", "wait"),
        [(1, timedelta(seconds=5)), (2, timedelta(minutes=5)), (3, timedelta(minutes=30))],
    )
    def test_each_attempt_waits_its_own_step_of_the_schedule(
        self, attempts: int, wait: timedelta
    ) -> None:
        assert decide(attempts, FAILED) == Decision("pending", NOW + wait)

    def test_a_delivery_is_dead_once_the_schedule_is_spent(self) -> None:
        assert decide(len(SCHEDULE) + 1, FAILED) == Decision("dead")

    def test_an_empty_schedule_means_no_retries(self) -> None:
        assert retry.decide(1, FAILED, NOW, (), middle) == Decision("dead")

    def test_a_permanent_failure_is_dead_at_once(self) -> None:
        refused = Outcome(None, "refused: 10.0.0.1 is not public", 0.5)
        assert decide(1, refused, permanent=True) == Decision("dead")

    def test_success_wins_over_a_permanent_flag(self) -> None:
        assert decide(1, Outcome(200, None, 1.0), permanent=True) == Decision("delivered")

    def test_a_failure_on_the_last_try_is_retried_when_schedule_remains(self) -> None:
        assert decide(len(SCHEDULE), FAILED).state == "pending"


class TestJitter:
    def test_the_lowest_random_value_waits_a_fifth_less(self) -> None:
        decision = retry.decide(2, FAILED, NOW, SCHEDULE, lambda: 0.0)
        assert decision.retry_at == NOW + timedelta(minutes=4)

    def test_a_random_value_near_one_waits_almost_a_fifth_more(self) -> None:
        decision = retry.decide(2, FAILED, NOW, SCHEDULE, lambda: 0.999_999)
        assert decision.retry_at is not None
        assert (
            NOW + timedelta(minutes=5, seconds=59) < decision.retry_at < NOW + timedelta(minutes=6)
        )

    def test_a_quarter_waits_a_tenth_less(self) -> None:
        decision = retry.decide(3, FAILED, NOW, SCHEDULE, lambda: 0.25)
        assert decision.retry_at == NOW + timedelta(minutes=27)

    @settings(max_examples=200)
    @given(
        st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
        st.integers(min_value=1, max_value=len(SCHEDULE)),
    )
    def test_the_wait_stays_within_a_fifth_either_way(self, value: float, attempts: int) -> None:
        decision = retry.decide(attempts, FAILED, NOW, SCHEDULE, lambda: value)
        wait = SCHEDULE[attempts - 1]
        assert decision.state == "pending"
        assert decision.retry_at is not None
        assert NOW + wait * 0.8 <= decision.retry_at <= NOW + wait * 1.2


class TestReceiverSignals:
    @pytest.mark.parametrize(
        "outcome",
        [
            Outcome(429, "HTTP 429", 1.0),
            Outcome(None, "timed out after 15s", 15000.0, timed_out=True),
        ],
        ids=["429", "timeout"],
    )
    def test_a_429_or_a_timeout_waits_at_least_a_minute(self, outcome: Outcome) -> None:
        assert decide(1, outcome) == Decision("pending", NOW + timedelta(seconds=60))

    def test_a_429_later_in_the_schedule_keeps_the_longer_step(self) -> None:
        assert decide(2, Outcome(429, "HTTP 429", 1.0)) == Decision(
            "pending", NOW + timedelta(minutes=5)
        )

    def test_retry_after_longer_than_the_step_is_honoured(self) -> None:
        asked = Outcome(503, "HTTP 503", 1.0, retry_after=timedelta(seconds=120))
        assert decide(1, asked) == Decision("pending", NOW + timedelta(seconds=120))

    def test_retry_after_shorter_than_the_step_does_not_hurry_it(self) -> None:
        asked = Outcome(503, "HTTP 503", 1.0, retry_after=timedelta(seconds=1))
        assert decide(2, asked) == Decision("pending", NOW + timedelta(minutes=5))

    def test_retry_after_is_capped_at_a_day(self) -> None:
        asked = Outcome(503, "HTTP 503", 1.0, retry_after=timedelta(days=30))
        assert decide(1, asked) == Decision("pending", NOW + timedelta(days=1))

    def test_a_410_keeps_the_delivery_pending_and_disables_the_webhook(self) -> None:
        assert decide(1, Outcome(410, "HTTP 410", 1.0)) == Decision(
            "pending", NOW, disable_webhook=True
        )

    def test_a_410_after_the_schedule_is_spent_still_waits_for_the_webhook(self) -> None:
        assert decide(9, Outcome(410, "HTTP 410", 1.0)).disable_webhook


class TestParseRetryAfter:
    @pytest.mark.parametrize(
        ("header", "wait"),
        [
            ("120", timedelta(seconds=120)),
            ("0", timedelta(0)),
            (" 7 ", timedelta(seconds=7)),
            ("Mon, 01 Aug 2016 12:02:00 GMT", timedelta(minutes=2)),
            ("Mon, 01 Aug 2016 11:00:00 GMT", timedelta(0)),
            ("99999999999", timedelta(days=1)),
        ],
        ids=["seconds", "zero", "spaces", "http-date", "date-in-the-past", "huge"],
    )
    def test_it_reads_seconds_and_http_dates(self, header: str, wait: timedelta) -> None:
        assert retry.parse_retry_after(header, NOW) == wait

    @pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "Mon, 99 Foo 2016"])
    def test_anything_else_is_ignored(self, header: str | None) -> None:
        assert retry.parse_retry_after(header, NOW) is None
