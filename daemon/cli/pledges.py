"""The commands on commitments: import, list, show, set-status and upcoming."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from daemon.cli import common, filters
from daemon.clock import system_clock
from daemon.model import lifecycle
from daemon.model.durations import DurationError, parse_duration
from daemon.model.statuses import parse_status

app = common.app


@app.command("import")
def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="YAML or JSON files, or folders of them.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count, write nothing.")
    ] = False,
) -> None:
    """Import commitments: one transaction, upsert by id."""
    from daemon import seeds
    from daemon.store import connector

    settings = common.load_settings(ctx)
    now = system_clock()
    try:
        with seeds.bulk():
            loaded = seeds.load(paths, default_zone=settings.zone, now=now)
    except seeds.SeedError as exc:
        common.fail(str(exc), common.EXIT_INPUT)
    engine = common.open_engine(settings, create=True)
    actor = f"import:{getpass.getuser()}"
    try:
        with seeds.bulk(), engine.connect() as conn:
            conn.execution_options(pledgewatch_write=True)
            transaction = conn.begin()
            try:
                counts = seeds.apply(conn, loaded, now=now, policy=settings.policy, actor=actor)
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
        if not dry_run:
            # Paid here, by the import, rather than by the next command or the daemon.
            connector.checkpoint(engine)
    except seeds.SeedError as exc:
        common.fail(str(exc), common.EXIT_INPUT)
    summary = ", ".join(f"{n} {what}" for what, n in counts.items())
    typer.echo(f"{'would import' if dry_run else 'imported'} {len(loaded)} commitments: {summary}")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: filters.Statuses = None,
    kind: filters.Kinds = None,
    tag: filters.Tags = None,
    party: filters.Parties = None,
    overdue: filters.Overdue = False,
    due_within: filters.DueWithin = None,
    search: filters.Search = None,
    as_json: common.JsonFlag = False,
    archived: Annotated[
        bool, typer.Option("--archived", help="The archived commitments instead.")
    ] = False,
) -> None:
    """List commitments with their next notice and deadline window (archived ones left out).

    The options combine: a commitment is listed when it meets every one given.
    """
    from daemon.model import documents
    from daemon.store import connector, pledges

    wanted = filters.wanted(
        statuses=status,
        kinds=kind,
        tags=tag,
        parties=party,
        overdue=overdue,
        due_within=due_within,
        search=search,
    )
    engine = common.open_engine(common.load_settings(ctx))
    now = system_clock()
    with connector.read(engine) as conn:
        found = [
            s
            for chunk in pledges.chunks(
                conn, statuses=wanted.statuses, kinds=wanted.kinds, archived=archived
            )
            for s in chunk
            if wanted.matches(s.pledge, now)
        ]
    if as_json:
        common.print_json([documents.commitment_document(s.pledge) for s in found])
        return
    rows = [
        (
            s.pledge.id,
            s.pledge.status.value,
            common.instant_text(s.next_notice_at, documents.zone_of(s.pledge)),
            common.window_text(s.pledge),
            s.pledge.title,
        )
        for s in found
    ]
    common.table(("ID", "STATUS", "NEXT NOTICE", "DEADLINE", "TITLE"), rows)


@app.command()
def show(
    ctx: typer.Context,
    commitment_id: common.CommitmentId,
    as_json: common.JsonFlag = False,
) -> None:
    """Show one commitment with its history, conditions and next notices."""
    from daemon.model import documents

    settings = common.load_settings(ctx)
    engine = common.open_engine(settings)
    stored, detail = common.described(engine, settings, commitment_id)
    if as_json:
        common.print_json(detail)
        return
    source = detail["source"]
    zone = documents.zone_of(stored.pledge)
    lines = [
        f"{detail['id']}: {detail['title']}",
        f"  status     {detail['status']}  ({detail['kind']})",
        f"  parties    {', '.join(detail['parties']) or '-'}",
        f"  tags       {', '.join(detail['tags']) or '-'}",
        f"  deadline   {common.window_text(stored.pledge)}",
        f"  source     {source['publisher'] or '-'}, {source['title'] or '-'} ({source['published'] or 'undated'})",
    ]
    if detail["description"]:
        lines.append(f"  about      {detail['description']}")
    if detail["extracted"]:
        lines.append(f"  extracted from: {detail['extracted']['sentence']}")
    for condition in detail["conditions"]:
        lines.append(f"  condition  waits for {condition['requires']} to be {condition['status']}")
    if detail["check_ins"]:
        rule = detail["check_ins"]["cron"] or detail["check_ins"]["every"] or "the default interval"
        since = common.instant_text(detail["check_ins"]["since"], zone)
        lines.append(f"  check-ins  {rule}, from {since}")
    if detail["archived_at"]:
        archived = common.instant_text(detail["archived_at"], zone)
        undo = f"`pledgewatch archive {commitment_id} --undo` brings it back"
        lines.append(f"  archived   {archived}: no notices ({undo})")
    if detail["blocked"]:
        lines.append("  waiting    a condition is not met yet: no deadline clock runs")
    if detail["acknowledged"]:
        lines.append("  acked      overdue repeats stopped until the next status change")
    if detail["held_until"]:
        held = common.instant_text(detail["held_until"], zone)
        lines.append(f"  held until {held} (snoozed or silenced)")
    if detail["plan_error"]:
        lines.append(f"  error      {detail['plan_error']}")
    lines.append("  next notices:" if detail["next_notices"] else "  next notices: none")
    for n in detail["next_notices"]:
        at = common.instant_text(n["at"], zone)
        line = f"    {at}  {n['type']}" + (f" ({n['offset']} before)" if "offset" in n else "")
        if "scheduled_for" in n:
            folded = f"; {n['missed']} earlier folded in" if n["missed"] else ""
            line += f" (held from {common.instant_text(n['scheduled_for'], zone)}{folded})"
        lines.append(line)
    lines.append("  history:")
    for h in detail["history"]:
        extra = "".join(f"  {k}: {h[k]}" for k in ("note", "evidence") if h[k])
        at = common.instant_text(h["at"], zone)
        lines.append(
            f"    {at}  {h['old_status'] or '-'} -> {h['new_status']}  by {h['actor'] or '-'}{extra}"
        )
    typer.echo("\n".join(lines))


@app.command("set-status")
def set_status(
    ctx: typer.Context,
    commitment_id: common.CommitmentId,
    status: Annotated[str, typer.Argument(metavar="STATUS", help=f"One of: {filters.STATUSES}.")],
    note: Annotated[str | None, typer.Option("--note", help="Why the status changed.")] = None,
    evidence: Annotated[
        str | None, typer.Option("--evidence", help="An http(s) URL backing the change.")
    ] = None,
) -> None:
    """Record a status change; it is notified like any other event."""
    from daemon.store import connector
    from daemon.store import lifecycle as store_lifecycle

    try:
        new = parse_status(status)
    except ValueError as exc:
        common.fail(str(exc), common.EXIT_INPUT)
    if evidence is not None:
        try:
            lifecycle.check_evidence(evidence)
        except lifecycle.EvidenceError as exc:
            common.fail(f"--evidence {evidence!r}: {exc}", common.EXIT_INPUT)
    settings = common.load_settings(ctx)
    engine = common.open_engine(settings)
    try:
        with common.existing(commitment_id), connector.write(engine) as conn:
            old = store_lifecycle.set_status(
                conn,
                commitment_id,
                new,
                now=system_clock(),
                policy=settings.policy,
                actor=common.actor(),
                note=note,
                evidence=evidence,
            )
    except lifecycle.TransitionError as exc:
        common.fail(f"{commitment_id}: {exc}", common.EXIT_INPUT)
    typer.echo(f"{commitment_id}: {old.value} -> {new.value}")


@app.command()
def upcoming(
    ctx: typer.Context,
    within: Annotated[str, typer.Option("--within", help="How far ahead, e.g. 30d, 12h.")] = "30d",
    pledge_id: filters.OnePledge = None,
    type_: filters.NoticeTypeOption = None,
    limit: filters.Limit = None,
    as_json: common.JsonFlag = False,
) -> None:
    """List the notices that will fire, in time order."""
    from daemon.model import documents
    from daemon.store import connector, pledges

    try:
        horizon = parse_duration(within)
    except DurationError as exc:
        common.fail(f"--within: {exc}", common.EXIT_INPUT)
    wanted_type = filters.notice_type(type_)
    settings = common.load_settings(ctx)
    engine = common.open_engine(settings)
    now = system_clock()
    until = now + horizon
    with connector.read(engine) as conn:
        if pledge_id is not None:
            with common.existing(pledge_id):
                pledges.get(conn, pledge_id)
        coming = pledges.upcoming(conn, settings.policy, now, until, only=pledge_id)
    if wanted_type is not None:
        coming = [pair for pair in coming if pair[1].planned.notice.type is wanted_type]
    coming = coming[:limit]
    found = []
    for pledge, going in coming:
        entry = {
            "at": None,
            "type": going.planned.notice.type.value,
            "commitment_id": pledge.id,
            "title": pledge.title,
            "offset": None,
        }
        # When it goes out; its own instant too when a hold keeps it back.
        entry.update(pledges.outgoing_document(going, documents.zone_of(pledge)))
        found.append(entry)
    if as_json:
        common.print_json(found)
        return
    common.table(
        ("WHEN", "TYPE", "ID", "TITLE"),
        [
            (
                common.instant_text(going.at, documents.zone_of(pledge)),
                n["type"],
                pledge.id,
                n["title"],
            )
            for (pledge, going), n in zip(coming, found, strict=True)
        ],
    )
