"""daemon/model/lifecycle.py: which status changes are allowed."""

from __future__ import annotations

import pytest

from daemon.model import lifecycle
from daemon.model.statuses import CLOSED, Status

OPEN_ONES = [s for s in Status if s not in CLOSED]


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_a_change_to_the_same_status_is_refused(status: Status) -> None:
    with pytest.raises(lifecycle.TransitionError, match="already"):
        lifecycle.check(status, status, "note")


@pytest.mark.parametrize("old", OPEN_ONES, ids=str)
@pytest.mark.parametrize("new", list(Status), ids=str)
def test_an_open_pledge_may_move_anywhere_without_a_note(old: Status, new: Status) -> None:
    if old is not new:
        lifecycle.check(old, new, None)


@pytest.mark.parametrize("old", sorted(CLOSED), ids=str)
@pytest.mark.parametrize("new", [Status.OPEN, Status.IN_PROGRESS, Status.BROKEN], ids=str)
def test_leaving_a_closed_outcome_needs_a_note(old: Status, new: Status) -> None:
    if old is new:
        return
    with pytest.raises(lifecycle.TransitionError, match="needs a note"):
        lifecycle.check(old, new, None)
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.check(old, new, "   ")
    lifecycle.check(old, new, "talks resumed in May")


class TestCheckEvidence:
    """One rule for `set-status --evidence` and the API's `evidence`."""

    @pytest.mark.parametrize(
        "url",
        [
            "https://example.org/news/1",
            "http://example.org",
            "HTTPS://Example.org/a?b=c#d",
            "https://[2001:db8::1]:8443/report",
            "https://例え.jp/報告",
        ],
    )
    def test_an_absolute_http_url_is_kept_as_given(self, url: str) -> None:
        assert lifecycle.check_evidence(url) == url

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("notaurl", "not an absolute http(s) URL (such as https://example.org/report)"),
            ("", "not an absolute http(s) URL"),
            ("//example.org/x", "not an absolute http(s) URL"),
            ("ftp://example.org/file", "not an http(s) URL: it starts with 'ftp:'"),
            ("mailto:desk@example.org", "not an http(s) URL: it starts with 'mailto:'"),
            ("https://", "no host after 'https://'"),
            ("http://:80/x", "no host after 'http://'"),
            ("https://example.org/a b", "contains a space or a control character"),
            ("https://example.org/\x00", "contains a space or a control character"),
            ("https://exa<mple.org/", "the host 'exa<mple.org' has a character"),
            ("https://example.org:99999/", "not a valid URL (Port out of range"),
            ("http://[::1/", "not a valid URL (Invalid IPv6 URL)"),
            ("https://example.org/" + "x" * 2064, "longer than 2083 characters"),
        ],
        ids=[
            "text",
            "empty",
            "no-scheme",
            "ftp",
            "mailto",
            "no-host",
            "port-only",
            "space",
            "nul",
            "host-character",
            "port-range",
            "ipv6-bracket",
            "too-long",
        ],
    )
    def test_anything_else_is_refused_saying_why(self, url: str, problem: str) -> None:
        with pytest.raises(lifecycle.EvidenceError) as raised:
            lifecycle.check_evidence(url)
        assert str(raised.value).startswith(problem)

    def test_the_longest_accepted_is_2083_characters(self) -> None:
        url = "https://example.org/" + "x" * 2063
        assert len(url) == lifecycle.EVIDENCE_MAX_LENGTH
        assert lifecycle.check_evidence(url) == url
