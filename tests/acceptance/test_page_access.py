"""The status pages over HTTP: PLEDGEWATCH_PAGE_TOKEN, the CSP header, escaping, pagination, 404s."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from daemon.service import pages
from tests.support import process

pytestmark = pytest.mark.daemon

TOKEN = "page-token-for-tests-1234567890"
COUNT = 120  # pledges: three pages of 50
HOSTILE = "<script>alert(1)</script>"


def _seed(count: int) -> str:
    items = "\n".join(
        f"  - {{id: p{i:03d}, title: 'Pledge number {i}', parties: [Desk], kind: deliverable,"
        f" deadline: '2090-01-{1 + i % 28:02d}', tags: [{'even' if i % 2 == 0 else 'odd'}]}}"
        for i in range(count)
    )
    hostile = (
        f'  - {{id: hostile, title: "{HOSTILE}", description: "[x](javascript:alert(1))",'
        " kind: deliverable, tags: [odd], parties: [Desk]}"
    )
    return f"source: {{title: Test}}\ntimezone: UTC\ncommitments:\n{items}\n{hostile}\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[process.Daemon]:
    folder = tmp_path_factory.mktemp("access")
    settings = {
        "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{folder / 'pages.db'}",
        "PLEDGEWATCH_PAGE_TOKEN": TOKEN,
    }
    (folder / "seed.yaml").write_text(_seed(COUNT))
    imported = process.cli("import", str(folder / "seed.yaml"), settings=settings)
    assert imported.returncode == 0, imported.stderr
    running = process.start(settings, folder / "daemon.log")
    yield running
    assert running.stop() == 0, running.output()
    assert TOKEN not in running.output()


@pytest.fixture
def client(site: process.Daemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=10, trust_env=False) as opened:
        yield opened


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


class TestToken:
    @pytest.mark.parametrize("path", ["/", "/pledges/p001", "/static/pages.css"])
    def test_the_pages_need_the_token(self, client: httpx.Client, path: str) -> None:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.headers["content-security-policy"] == pages.CSP
            assert TOKEN not in answer.text
        assert client.get(path, headers=_bearer()).status_code == 200

    @pytest.mark.parametrize("path", ["/livez", "/readyz", "/health", "/api/commitments"])
    def test_the_machine_endpoints_do_not(self, client: httpx.Client, path: str) -> None:
        assert client.get(path).status_code == 200

    def test_the_token_in_the_query_sets_a_strict_cookie_and_leaves_the_address(
        self, client: httpx.Client
    ) -> None:
        assert client.get("/?token=wrong&tag=odd").status_code == 401
        answer = client.get(f"/?tag=odd&token={TOKEN}")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/?tag=odd"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert TOKEN not in cookie
        # The client keeps the cookie: from now on the pages answer without the token.
        assert client.get("/?tag=odd").status_code == 200
        assert client.get("/pledges/p002").status_code == 200
        client.cookies.clear()
        assert client.get("/").status_code == 401


class TestPages:
    def test_every_page_carries_the_strict_policy(self, client: httpx.Client) -> None:
        for path in ("/", "/pledges/p001", "/pledges/nope", "/nope", "/static/pages.css"):
            answer = client.get(path, headers=_bearer())
            assert answer.headers["content-security-policy"] == (
                "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'"
            ), path
            assert answer.headers["x-content-type-options"] == "nosniff"

    def test_words_from_the_table_are_escaped(self, client: httpx.Client) -> None:
        for path in ("/pledges/hostile", "/?tag=odd&page=2", "/?q=script"):
            body = client.get(path, headers=_bearer()).text
            assert HOSTILE not in body, path
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path
            assert "<script" not in body and 'href="javascript' not in body
        body = client.get("/pledges/hostile", headers=_bearer()).text
        assert "[x](javascript:alert(1))" in body

    def test_the_overview_pages_by_fifty_with_links_keeping_the_filter(
        self, client: httpx.Client
    ) -> None:
        first = client.get("/", headers=_bearer()).text
        assert first.count('class="what"') == 50
        assert "Page 1 of 3 · 121 pledges" in first
        assert 'rel="next" href="/?page=2"' in first and 'rel="prev"' not in first
        third = client.get("/?page=3", headers=_bearer()).text
        assert third.count('class="what"') == 21
        assert 'rel="prev" href="/?page=2"' in third and 'rel="next"' not in third
        odd = client.get("/?tag=odd", headers=_bearer()).text
        assert "Page 1 of 2 · 61 pledges" in odd
        assert 'rel="next" href="/?tag=odd&amp;page=2"' in odd
        ids = re.findall(r'<span class="id">([^<]+)</span>', first)
        # Soonest deadline first: the 1st of January 2090, then by id.
        assert ids[:3] == ["p000", "p028", "p056"], ids[:5]
        beyond = client.get("/?page=999", headers=_bearer())
        assert beyond.status_code == 200 and "Page 3 of 3" in beyond.text
        assert client.get("/?status=nonsense", headers=_bearer()).status_code == 400

    def test_unknown_pages_get_the_html_404_and_the_api_keeps_json(
        self, client: httpx.Client
    ) -> None:
        for path in ("/pledges/nope", "/no/such/page", "/static/nope.js"):
            answer = client.get(path, headers=_bearer())
            assert answer.status_code == 404, path
            assert answer.headers["content-type"].startswith("text/html"), path
            assert "<h1>Not found</h1>" in answer.text
        for path in ("/api/nope", "/api/commitments/nope", "/pledges/nope.ics"):
            answer = client.get(path)
            assert answer.status_code == 404
            assert answer.headers["content-type"] == "application/json", path
