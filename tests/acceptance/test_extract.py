"""`pledgewatch extract` run as a real process: its proposals import, bad input exits 2."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.support import process

CORPUS = Path(__file__).parents[1] / "extract_corpus"
REPORTS = sorted(
    p for folder in (CORPUS, CORPUS / "held_out") for p in folder.glob("*.*") if p.suffix != ".yaml"
)
EXIT_INPUT = 2


def _extract(report: Path, out: Path) -> None:
    spec = yaml.safe_load(report.with_suffix(".yaml").read_text())
    result = process.cli(
        "extract",
        str(report),
        "--published",
        str(spec["published"]),
        "--timezone",
        spec["timezone"],
        "--source-url",
        "https://news.example/report",
        "--out",
        str(out),
        settings={},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("proposed ") and str(out) in result.stdout


def test_the_proposals_of_every_corpus_report_import_cleanly(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    for report in REPORTS:
        _extract(report, tmp_path / "seeds" / f"{report.stem}.yaml")
    settings = {"PLEDGEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    for seed in sorted((tmp_path / "seeds").iterdir()):
        result = process.cli("import", "--dry-run", str(seed), settings=settings)
        assert result.returncode == 0, f"{seed.name}: {result.stderr}"
        assert result.stdout.startswith("would import ")


def test_extract_edit_import_and_the_pledge_is_planned_with_where_it_came_from(
    tmp_path: Path,
) -> None:
    today = datetime.now(UTC).date()
    article = tmp_path / "article.html"
    article.write_text(
        "<html><head><title>Council sets out plans</title></head><body>"
        "<p>The council will repave the ring road within 40 days, the mayor said.</p>"
        "<p>Officials could also look at parking.</p></body></html>"
    )
    seed = tmp_path / "seed.yaml"
    made = process.cli(
        "extract", str(article), "--published", today.isoformat(), "--out", str(seed), settings={}
    )
    assert made.returncode == 0, made.stderr
    text = seed.read_text()
    assert "title: Council sets out plans" in text and "# publisher: unknown" in text
    edited = text.replace("title: Repave the ring road", "title: Repave the Ring Road")
    seed.write_text(edited)
    settings = {"PLEDGEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    imported = process.cli("import", str(seed), settings=settings)
    assert imported.returncode == 0, imported.stderr
    shown = process.cli("show", "repave-ring-road", settings=settings)
    assert shown.returncode == 0, shown.stderr
    assert "Repave the Ring Road" in shown.stdout
    assert (
        "  extracted from: The council will repave the ring road within 40 days, the mayor said.\n"
        in shown.stdout
    )
    detail = json.loads(process.cli("show", "repave-ring-road", "--json", settings=settings).stdout)
    assert detail["extracted"]["cue"] == "modal: will; deadline: within 40 days"
    assert detail["extracted"]["parties"] == ["Council"]
    coming = process.cli("upcoming", "--within", "45d", "--json", settings=settings)
    notices = [n for n in json.loads(coming.stdout) if n["commitment_id"] == "repave-ring-road"]
    # The daemon reminds: a reminder 30 days before the day, then the day itself.
    assert {n["type"] for n in notices} >= {"commitment.reminder", "commitment.due"}


def test_stdin_json_and_merge(tmp_path: Path) -> None:
    article = (CORPUS / "01-border-treaty.txt").read_bytes()
    first = subprocess.run(
        [process.COMMAND, "extract", "-", "--published", "2023-04-11", "--json"],
        input=article,
        capture_output=True,
        env=process.environment({}),
        timeout=60,
    )
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump(document))
    updated = tmp_path / "updated.txt"
    updated.write_bytes(
        article + b"\n\nThe two governments will open a border crossing by the end of June.\n"
    )
    again = process.cli(
        "extract",
        str(updated),
        "--published",
        "2023-04-11",
        "--merge",
        str(seed),
        "--json",
        settings={},
    )
    assert again.returncode == 0, again.stderr
    added = json.loads(again.stdout)["commitments"]
    assert [c["title"] for c in added] == ["Open a border crossing"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "the file is empty"),
        (b"\0\x01\x02binary\0", "binary"),
        (
            "Le gouvernement a promis de construire des logements avant la fin de "
            "l'année, a déclaré le ministre jeudi.".encode(),
            "English",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_file(tmp_path: Path, content: bytes, why: str) -> None:
    article = tmp_path / "article.txt"
    article.write_bytes(content)
    result = process.cli("extract", str(article), "--published", "2024-01-01", settings={})
    assert result.returncode == EXIT_INPUT
    assert result.stderr.startswith(f"pledgewatch: {article}: ") and why in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ([], "--published is required"),
        (["--published", "25/03/2016"], "is not a date"),
        (["--published", "2016-03-25", "--timezone", "Mars/Olympus"], "not a known time zone"),
        (["--published", "2016-03-25", "--merge", "missing.yaml"], "missing.yaml: cannot read"),
    ],
)
def test_bad_arguments_exit_2_naming_the_file(
    tmp_path: Path, arguments: list[str], why: str
) -> None:
    article = tmp_path / "article.txt"
    article.write_text("The city will hire drivers by June.\n")
    result = process.cli("extract", str(article), *arguments, settings={}, cwd=tmp_path)
    assert result.returncode == EXIT_INPUT, result.stderr
    assert why in result.stderr
    if "--merge" not in arguments:
        assert str(article) in result.stderr


def test_a_5_mb_article_completes(tmp_path: Path) -> None:
    paragraphs = [p.read_text() for p in sorted(CORPUS.glob("*.txt"))]
    filler = "The minister spoke to reporters about the weather and the roads in the north.\n\n"
    article = tmp_path / "big.txt"
    with article.open("w") as out:
        written, n = 0, 0
        while written < 5 * 1024 * 1024:
            piece = paragraphs[n % len(paragraphs)] if n % 2 else filler * 10
            written += out.write(piece)
            n += 1
    seed = tmp_path / "big.yaml"
    result = process.cli(
        "extract",
        str(article),
        "--published",
        "2024-01-01",
        "--out",
        str(seed),
        settings={},
        timeout=110,
    )
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(seed.read_text(encoding="utf-8"))["commitments"]
