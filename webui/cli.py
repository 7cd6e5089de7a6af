"""The `riskflow` command: set up the database, check and deploy models, serve the app.

Every mistake an operator can make (a missing setting, a database that is not set up or does not
answer, a folder that is not there) ends in one line that says what to do, never a traceback.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from engine.bundle import LANES_FILE, Bundle
from engine.clock import DISPLAY_ZONE, SystemClock
from engine.db import Database
from engine.democlock import advance_demo_clock
from engine.errors import DefinitionError, Problem
from engine.runtime import ProcessEngine
from engine.worker import Worker
from tasks.wiring import build_engine
from webui import clock_for
from webui.config import ConfigError, Settings, load_settings
from webui.schema import UPGRADE_HINT, SchemaNotReadyError, require_current_schema, upgrade


class RiskflowGroup(click.Group):
    """A command group that turns the errors an operator can meet into one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as err:
            raise click.ClickException(f"configuration: {err}") from None
        except SchemaNotReadyError as err:
            raise click.ClickException(str(err)) from None
        except (OperationalError, InterfaceError) as err:
            raise click.ClickException(
                f"the database at {_safe_url()} did not answer: {_first_line(err.orig)}. "
                "Check RISKFLOW_DATABASE_URL and that the database server is running."
            ) from None
        except ProgrammingError as err:
            raise click.ClickException(
                f"the database at {_safe_url()} does not match this version of riskflow "
                f"({_first_line(err.orig)}): {UPGRADE_HINT}"
            ) from None


@click.group(cls=RiskflowGroup)
@click.version_option(package_name="riskflow", prog_name="riskflow")
def cli() -> None:
    """riskflow: risk-led offender management workflows.

    Settings come from RISKFLOW_* environment variables (see the README).
    """


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="riskflow")


# --------------------------------------------------------------------------------------- database


@cli.group()
def db() -> None:
    """Create or upgrade the database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the tables, or bring them up to this version (creates the SQLite folder)."""
    settings = load_settings()
    try:
        before, after = upgrade(settings.database_url)
    except OSError as err:
        raise click.ClickException(
            f"cannot create the database at {settings.safe_database_url}: {err.strerror or err}"
        ) from None
    revision = ", ".join(sorted(after)) or "(none)"
    if before == after:
        click.echo(f"the database at {settings.safe_database_url} is up to date at revision {revision}")
    else:
        click.echo(f"upgraded the database at {settings.safe_database_url} to revision {revision}")


@cli.command("recompute-critical-few")
def recompute_critical_few() -> None:
    """Mark every case on the register by the critical-few rule in force (critical_few.dmn of the newest
    deployed version). A deploy or publish that changes the table does this itself; run it after rows
    were written without the register. The register keeps each case's mark up to date as its RoSH,
    MAPPA level and registrations change; the register list filters on it."""
    from casework.critical_few import recompute_critical_flags

    with open_engine(load_settings()) as engine, engine.db.transaction() as session:
        changed = recompute_critical_flags(session)
    click.echo(f"{changed} case(s) changed: every case is marked by the critical-few rule in force")


@cli.group()
def tally() -> None:
    """The counts of open work the monitor reads (kept by the database as work changes)."""


@tally.command("check")
def tally_check() -> None:
    """Compare the tallies with a direct count of the open tasks and message waits; exit 1 if any differ."""
    from engine.tally import differences

    with open_engine(load_settings()) as engine, engine.db.engine.connect() as connection:
        found = differences(connection)
    for kind, name, team, day, week, kept, counted in found[:20]:
        click.echo(f"{kind} {name!r} team {team} day {day} week {week}: tallied {kept}, counted {counted}")
    if found:
        raise click.ClickException(f"{len(found)} tally row(s) differ: run `riskflow tally rebuild`")
    click.echo("every tally matches the rows")


@tally.command("rebuild")
def tally_rebuild() -> None:
    """Recount every tally from the rows (steps wait for the few seconds it takes)."""
    from engine.tally import rebuild

    with open_engine(load_settings()) as engine, engine.db.engine.begin() as connection:
        written = rebuild(connection)
    click.echo(f"{written} tally row(s) written from the open tasks and message waits")


# --------------------------------------------------------------------------------------- models


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--by", "actor", default=None, help="Who deploys (recorded; default: your login name).")
@click.option("--note", default="", help="Why this version is deployed (recorded with it).")
def deploy(path: Path | None, actor: str | None, note: str) -> None:
    """Deploy the model bundles under PATH (default: the processes folder).

    Each subfolder holding a lanes.json or .bpmn files is one bundle, named after the folder; PATH
    itself is the bundle if it holds .bpmn files. Unchanged bundles keep their version. If any
    bundle has an error, nothing is deployed.
    """
    settings = load_settings()
    folders = bundle_folders(path or settings.processes_dir)
    if not folders:
        click.echo(f"no process bundles in {path or settings.processes_dir}: nothing to deploy")
        return
    bundles, problems = read_bundles(folders)
    with open_engine(settings) as engine:
        for bundle in bundles:
            problems[bundle.name] = _check(engine, bundle)
        errors = {name: found for name, found in problems.items() if _count(found, "error")}
        if errors:
            for name, found in errors.items():
                _print_problems(name, found)
            raise click.ClickException(
                f"nothing was deployed: {_summary(errors)}. Fix them (`riskflow check` lists every problem) "
                "and deploy again."
            )
        for bundle in bundles:
            result = engine.deploy(bundle, actor=actor or _login_name(), note=note)
            if result.created:
                click.echo(f"deployed {result.name} version {result.version}")
            else:
                click.echo(f"{result.name} is unchanged at version {result.version}")
            for warning in result.warnings:
                click.echo(f"  {warning}")


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def check(path: Path | None) -> None:
    """Check the model bundles under PATH without deploying them; exit 1 if any has an error."""
    settings = load_settings()
    folders = bundle_folders(path or settings.processes_dir)
    bundles, problems = read_bundles(folders)
    engine = build_engine(Database(settings.database_url), SystemClock())
    try:
        for bundle in bundles:
            problems[bundle.name] = _check(engine, bundle)
    finally:
        engine.db.dispose()
    if not folders:
        click.echo(f"no process bundles in {path or settings.processes_dir}")
    for name in sorted(problems):
        _print_problems(name, problems[name])
    click.echo(_summary(problems))
    if any(_count(found, "error") for found in problems.values()):
        click.get_current_context().exit(1)


def bundle_folders(path: Path) -> list[Path]:
    """The bundle folders under `path`: itself if it holds .bpmn files, else its model subfolders."""
    if not path.exists():
        raise click.ClickException(
            f"the processes folder {path} does not exist: create it, give another PATH, "
            "or set RISKFLOW_PROCESSES_DIR"
        )
    if not path.is_dir():
        raise click.ClickException(f"{path} is not a folder: give the folder that holds the model bundles")
    if any(path.glob("*.bpmn")):
        return [path]
    return [
        folder
        for folder in sorted(path.iterdir())
        if folder.is_dir()
        and not folder.name.startswith((".", "_"))
        and ((folder / LANES_FILE).is_file() or any(folder.glob("*.bpmn")))
    ]


def read_bundles(folders: list[Path]) -> tuple[list[Bundle], dict[str, list[Problem]]]:
    """Read each folder as a bundle named after it; a folder that cannot be read is a problem."""
    bundles: list[Bundle] = []
    problems: dict[str, list[Problem]] = {}
    for folder in folders:
        name = folder.resolve().name
        try:
            bundles.append(Bundle.from_directory(folder, name=name))
        except DefinitionError as err:
            problems[name] = err.problems
    return bundles, problems


@contextmanager
def open_engine(settings: Settings) -> Iterator[ProcessEngine]:
    """The engine on the configured database, once the schema is known to be current."""
    database = Database(settings.database_url)
    try:
        require_current_schema(database.engine, settings.database_url)
        yield build_engine(database, clock_for(settings, database))
    finally:
        database.dispose()


def _check(engine: ProcessEngine, bundle: Bundle) -> list[Problem]:
    try:
        return engine.check(bundle).problems
    except DefinitionError as err:
        return err.problems


def _print_problems(name: str, problems: list[Problem]) -> None:
    if not problems:
        click.echo(f"{name}: no problems")
        return
    click.echo(f"{name}: {_summary({name: problems})}")
    for problem in problems:
        click.echo(f"  {problem}")


def _summary(problems: dict[str, list[Problem]]) -> str:
    found = [p for items in problems.values() for p in items]
    return f"{_count(found, 'error')} error(s), {len(found) - _count(found, 'error')} warning(s)"


def _count(problems: list[Problem], severity: str) -> int:
    return sum(1 for p in problems if p.severity == severity)


# --------------------------------------------------------------------------------------- serving


@cli.command()
@click.option("--no-worker", is_flag=True, help="Do not run the timer worker in this process.")
def serve(no_worker: bool) -> None:
    """Serve the web app on RISKFLOW_HOST:RISKFLOW_PORT (default http://127.0.0.1:5000).

    A timer worker runs in the same process unless --no-worker is given (then run
    `riskflow worker` separately; on SQLite run exactly one worker in all).
    """
    from waitress.server import create_server

    from webui import create_app, riskflow

    configure_logging()
    app = create_app()
    shared = riskflow(app)
    settings = shared.settings
    stop_worker: threading.Event | None = None
    try:
        require_current_schema(shared.db.engine, settings.database_url)
        _warn_if_front_end_missing()
        if not no_worker:
            _, stop_worker = Worker(shared.engine).start_in_thread()
        try:
            server = create_server(app, host=settings.host, port=settings.port, ident="riskflow")
        except OSError as err:
            raise click.ClickException(
                f"cannot listen on {settings.host}:{settings.port}: {err.strerror or err}. "
                "Stop whatever uses that port, or set RISKFLOW_HOST and RISKFLOW_PORT."
            ) from None
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        click.echo(f"riskflow is serving on http://{host}:{settings.port}/ (Ctrl+C stops it)")
        signal.signal(signal.SIGTERM, _stop_on_sigterm)  # a service manager stops us with SIGTERM
        try:
            server.run()  # returns on Ctrl+C or SIGTERM
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
        click.echo("riskflow stopped")
    finally:
        if stop_worker is not None:
            stop_worker.set()
        shared.db.dispose()


@cli.command()
@click.option("--poll", default=5.0, show_default=True, help="Longest sleep between sweeps, in seconds.")
@click.option("--once", is_flag=True, help="Fire what is due now, hand on the outbox, and exit.")
def worker(poll: float, once: bool) -> None:
    """Fire due timers and hand on thrown messages; run any number of these on PostgreSQL."""
    configure_logging()
    settings = load_settings()
    with open_engine(settings) as engine:
        runner = Worker(engine, poll_seconds=poll)
        if once:
            result = runner.run_once()
            click.echo(f"fired {result.timers_fired} timer(s), sent {result.messages_sent} message(s)")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        click.echo(f"riskflow worker on {settings.safe_database_url} (Ctrl+C stops it)")
        try:
            runner.run(stop)
        except KeyboardInterrupt:
            stop.set()
        click.echo("riskflow worker stopped")


# -------------------------------------------------------------------------------------- messages


@cli.group()
def message() -> None:
    """Messages from the systems around riskflow (court results, OASys, ...)."""


@message.command("send")
@click.argument("name")
@click.argument("correlation_value", metavar="CRN")
@click.option("--payload", default="{}", help="The message body as a JSON object.")
@click.option("--key", "idempotency_key", default=None, help="Idempotency key: the same key is applied once.")
@click.option("--sender", default=None, help="Who sends it (recorded; default: your login name).")
def message_send(
    name: str, correlation_value: str, payload: str, idempotency_key: str | None, sender: str | None
) -> None:
    """Deliver message NAME for case CRN, or keep it until the case waits for it."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as err:
        raise click.ClickException(f"--payload is not valid JSON: {err.msg} at column {err.colno}") from None
    if not isinstance(body, dict):
        raise click.ClickException('--payload must be a JSON object, for example \'{"outcome": "custody"}\'')
    from webui.inbound import deliver_inbound

    with open_engine(load_settings()) as engine:
        delivery = deliver_inbound(
            engine,
            name,
            correlation_value,
            body,
            idempotency_key=idempotency_key,
            sender=sender or _login_name(),
        )
    where = f" to instance {delivery.instance_id}" if delivery.instance_id else ""
    click.echo(f"{name} for {correlation_value}: {delivery.status}{where} (message {delivery.message_id})")


# ----------------------------------------------------------------------------------- API tokens


@cli.group()
def token() -> None:
    """API tokens for the systems around riskflow and for staff (see docs/api.md)."""


@token.command("issue")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, help="A scope to grant (repeat for more).")
@click.option("--person", "username", default=None, help="The staff username the token acts as.")
@click.option("--by", "actor", default=None, help="Who issues it (recorded; default: your login name).")
@click.option(
    "--valid-for",
    "valid_for",
    default="365d",
    show_default=True,
    help="How long it works: 90d, 12w, up to 730d.",
)
def token_issue(
    name: str, scopes: tuple[str, ...], username: str | None, actor: str | None, valid_for: str
) -> None:
    """Issue token NAME: to a member of staff with --person, otherwise to the system called NAME.

    The secret is printed once and never stored: give it to the token's holder now. The token
    stops working after --valid-for (a year unless told); issue a new one before then.
    """
    from engine.errors import EngineError
    from webui.api.tokens import issue_token

    with open_engine(load_settings()) as engine, engine.db.transaction() as session:
        try:
            issued = issue_token(
                session,
                name,
                list(scopes),
                username=username,
                at=engine.clock.now(),
                by=actor or _login_name(),
                valid_for=parse_duration(valid_for),
            )
        except EngineError as err:
            raise click.ClickException(err.message) from None
    holder = f"person {issued.username}" if issued.username else f"system {issued.name}"
    click.echo(f"issued token {issued.name} for {holder} with scopes {', '.join(issued.scopes)}")
    click.echo(f"it works until {format_local(issued.expires_at)}")
    click.echo(f"secret (shown once, keep it safe): {issued.secret}")


@token.command("list")
def token_list() -> None:
    """List every token: name, holder, scopes, and whether it is revoked (never the secrets)."""
    from webui.api.tokens import list_tokens

    with open_engine(load_settings()) as engine, engine.db.transaction(write=False) as session:
        tokens = list_tokens(session)
        now = engine.clock.now()
        if not tokens:
            click.echo("no API tokens: issue one with `riskflow token issue NAME --scope ...`")
        for item in tokens:
            holder = f"person {item.username}" if item.username else "system"
            if item.revoked_at:
                state = f"revoked {format_local(item.revoked_at)}"
            elif not item.works_at(now):
                state = f"expired {format_local(item.expires_at)}"
            else:
                state = f"active until {format_local(item.expires_at)}"
            click.echo(f"{item.name:<24} {holder:<32} {state:<28} {' '.join(item.scopes)}")


@token.command("revoke")
@click.argument("name")
@click.option("--by", "actor", default=None, help="Who revokes it (recorded; default: your login name).")
def token_revoke(name: str, actor: str | None) -> None:
    """Revoke token NAME: every call with it is refused from now on."""
    from engine.errors import EngineError
    from webui.api.tokens import revoke_token

    with open_engine(load_settings()) as engine, engine.db.transaction() as session:
        try:
            revoke_token(session, name, at=engine.clock.now(), by=actor or _login_name())
        except EngineError as err:
            raise click.ClickException(err.message) from None
    click.echo(f"revoked token {name}")


# ---------------------------------------------------------------------------------------- staff


@cli.group()
def staff() -> None:
    """The staff list and sign-in: add staff, change their grade, team, line manager, qualification
    date (the experience band follows from it) and roles, deactivate a leaver (and leavers whose
    leaving date has passed) and reactivate them, reset a password, end a member of staff's
    sessions. Each change is audited with --by (the staff pages at /staff do the same)."""


@staff.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="The person's name as staff know it.")
@click.option("--grade", required=True, help="Their grade: PO, PSO, TRAINEE_PO, SPO, ACO, CASE_ADMIN, ...")
@click.option("--team", "team_code", default=None, help="Their team's code (see the register's teams).")
@click.option("--line-manager", default=None, help="Their line manager's username (an active SPO or ACO).")
@click.option(
    "--qualified", "qualified_on", default=None, help="A probation officer's qualification day: YYYY-MM-DD."
)
@click.option(
    "--senior-practitioner-since", default=None, help="The day a senior-practitioner post began: YYYY-MM-DD."
)
@click.option("--started", "started_on", help="The day they started: YYYY-MM-DD (today if not given).")
@click.option("--by", "actor", default=None, help="Who does it (recorded; default: your login name).")
def staff_add(  # noqa: PLR0917 - click passes one argument per option
    username: str,
    display_name: str,
    grade: str,
    team_code: str | None,
    line_manager: str | None,
    qualified_on: str | None,
    senior_practitioner_since: str | None,
    started_on: str | None,
    actor: str | None,
) -> None:
    """Put USERNAME on the staff list. They sign in once `riskflow staff reset-password` gives them
    a temporary password."""
    from tasks.staff_admin import add_staff

    started = _day_option("--started", started_on)
    with _accounts() as (session, now, by, _, _engine):
        added = add_staff(
            session,
            username,
            display_name=display_name,
            grade=grade,
            team_code=team_code,
            line_manager=line_manager,
            qualified_on=_day_option("--qualified", qualified_on),
            senior_practitioner_since=_day_option("--senior-practitioner-since", senior_practitioner_since),
            started_on=started or now.astimezone(DISPLAY_ZONE).date(),
            by=actor or by,
            now=now,
        )
        team = f" in team {added.team.code}" if added.team else ""
        click.echo(f"added {added.username} ({added.display_name}, {added.grade.display_name}{team})")
    click.echo(f"give them a temporary password with `riskflow staff reset-password {username}`")


@staff.command("set")
@click.argument("username")
@click.option("--grade", default=None, help="Their new grade: PO, PSO, TRAINEE_PO, SPO, ACO, ...")
@click.option("--team", "team_code", default=None, help="Their new team's code, or `none` for no team.")
@click.option("--line-manager", default=None, help="Their line manager's username, or `none`.")
@click.option(
    "--qualified", "qualified_on", default=None, help="The qualification day (YYYY-MM-DD), or `none`."
)
@click.option(
    "--senior-practitioner-since", default=None, help="The post's first day (YYYY-MM-DD), or `none`."
)
@click.option("--by", "actor", default=None, help="Who does it (recorded; default: your login name).")
def staff_set(  # noqa: PLR0917 - click passes one argument per option
    username: str,
    grade: str | None,
    team_code: str | None,
    line_manager: str | None,
    qualified_on: str | None,
    senior_practitioner_since: str | None,
    actor: str | None,
) -> None:
    """Change USERNAME's grade, team, line manager, qualification date or senior-practitioner post (what
    is not given stays); the experience band follows from the dates."""
    from tasks.staff_admin import KEEP, change_staff

    given = (grade, team_code, line_manager, qualified_on, senior_practitioner_since)
    if all(value is None for value in given):
        raise click.ClickException(
            "say what to change: --grade, --team, --line-manager, --qualified or --senior-practitioner-since"
        )
    with _accounts() as (session, now, by, _, _engine):
        changed = change_staff(
            session,
            username,
            grade=KEEP if grade is None else grade,
            team_code=KEEP if team_code is None else _or_none(team_code),
            line_manager=KEEP if line_manager is None else _or_none(line_manager),
            qualified_on=KEEP if qualified_on is None else _day_option("--qualified", _or_none(qualified_on)),
            senior_practitioner_since=KEEP
            if senior_practitioner_since is None
            else _day_option("--senior-practitioner-since", _or_none(senior_practitioner_since)),
            by=actor or by,
            now=now,
        )
        team = changed.team.code if changed.team else "no team"
        manager = changed.line_manager.username if changed.line_manager else "no line manager"
        band = f", experience {changed.experience.value}" if changed.experience else ""
        click.echo(f"{username} is now {changed.grade.display_name} in {team}, {manager}{band}")


def _or_none(value: str) -> str | None:
    return None if value.lower() == "none" else value


def _day_option(option: str, value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise click.ClickException(f"{option} {value!r} is not a date: use YYYY-MM-DD") from None


@staff.command("reset-password")
@click.argument("username")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the temporary password from standard input.")
@click.option("--by", "actor", default=None, help="Who does it (recorded; default: your login name).")
def staff_reset_password(username: str, from_stdin: bool, actor: str | None) -> None:
    """Give USERNAME a temporary password that they must change when they next sign in, and end every
    session of theirs. Without --stdin a random one is made and printed once."""
    from tasks.staff_admin import reset_password

    temporary = None
    if from_stdin:
        temporary = sys.stdin.readline().rstrip("\r\n")
    with _accounts() as (session, now, by, sign_in, _engine):
        password = reset_password(session, username, sign_in, by=actor or by, now=now, temporary=temporary)
    click.echo(f"reset the password of {username}: they must choose their own when they next sign in")
    if not from_stdin:
        click.echo(f"temporary password (shown once, give it to them privately): {password}")


@staff.command("set-roles")
@click.argument("username")
@click.argument("roles", nargs=-1)
@click.option("--none", "no_roles", is_flag=True, help="Take away every role beyond the grade's.")
@click.option("--by", "actor", default=None, help="Who does it (recorded; default: your login name).")
def staff_set_roles(username: str, roles: tuple[str, ...], no_roles: bool, actor: str | None) -> None:
    """Give USERNAME exactly ROLES beyond their grade's own (for example PROCESS_OWNER)."""
    from tasks.staff_admin import change_staff

    if bool(roles) == no_roles:
        raise click.ClickException("give the roles to hold (for example PROCESS_OWNER), or --none for none")
    with _accounts() as (session, now, by, _, _engine):
        changed = change_staff(session, username, extra_roles=roles, by=actor or by, now=now)
        held = ", ".join(changed.extra_roles) or "none"
    click.echo(f"{username} now holds, beyond their grade's roles: {held}")


@staff.command("deactivate")
@click.argument("username")
@click.option("--by", "actor", default=None, help="Who does it (recorded; default: your login name).")
def staff_deactivate(username: str, actor: str | None) -> None:
    """Make USERNAME inactive (a leaver): they can no longer sign in, every session of theirs ends now,
    and the open tasks they hold go back to their pools (or their team's SPO). The cases they own stay
    theirs until their SPO reallocates them: each case asks for it."""
    from tasks.staff_admin import deactivate

    with _accounts() as (session, now, by, sign_in, engine):
        done = deactivate(session, username, sign_in, by=actor or by, now=now, cases=engine)
    ended, moved = done.sessions_ended, done.tasks_moved
    click.echo(
        f"made {username} inactive and ended {ended} signed-in session{'s' if ended != 1 else ''}; "
        f"{moved} open task{'s' if moved != 1 else ''} taken back from them; "
        f"{done.cases_to_reallocate} open case(s) asked to be reallocated"
    )


@staff.command("leavers")
@click.option("--by", "actor", default=None, help="Who does it (recorded; default: your login name).")
def staff_leavers(actor: str | None) -> None:
    """Deactivate everyone whose leaving date has passed (run daily, as a scheduled job)."""
    from tasks.staff_admin import deactivate_leavers

    with _accounts() as (session, now, by, sign_in, engine):
        gone = deactivate_leavers(session, sign_in, by=actor or by, now=now, cases=engine)
    click.echo(f"deactivated {len(gone)} leaver(s){': ' + ', '.join(gone) if gone else ''}")


@staff.command("reactivate")
@click.argument("username")
@click.option("--by", "actor", default=None, help="Who does it (recorded; default: your login name).")
def staff_reactivate(username: str, actor: str | None) -> None:
    """Make USERNAME active again."""
    from tasks.staff_admin import reactivate

    with _accounts() as (session, now, by, _, _engine):
        reactivate(session, username, by=actor or by, now=now)
    click.echo(f"made {username} active again")


@staff.command("list")
@click.option("--all", "everyone", is_flag=True, help="Include inactive staff.")
def staff_list(everyone: bool) -> None:
    """List the staff by name: username, name, grade, team, extra roles, and whether they may sign in."""
    from tasks.staff_admin import staff_on_list
    from webui.accounts import sign_in_state

    with open_engine(load_settings()) as engine, engine.db.transaction(write=False) as session:
        people = staff_on_list(session, active=None if everyone else True).people
        for person in people:
            team = person.team.code if person.team else "-"
            roles = ",".join(person.extra_roles) or "-"
            click.echo(
                f"{person.username:<28} {person.display_name:<28} {person.grade.value:<20} "
                f"{team:<8} {roles:<20} {sign_in_state(session, person)}"
            )
    if not people:
        click.echo("nobody on the staff list: add someone with `riskflow staff add USERNAME --name ...`")


@contextmanager
def _accounts() -> Iterator[tuple[Any, datetime, str, Any, ProcessEngine]]:
    """A write transaction for a change to the staff list, its time, the default actor, the
    passwords and sessions (timed on real time, as sign-ins are) and the engine (to tell cases); a
    refusal becomes one clear line and changes nothing."""
    from tasks.staff_admin import StaffAdminRefused
    from webui.accounts import SignInRecords

    with open_engine(load_settings()) as engine:
        try:
            with engine.db.transaction() as session:
                yield session, engine.clock.now(), _login_name(), SignInRecords(SystemClock()), engine
        except StaffAdminRefused as err:
            raise click.ClickException(err.message) from None


@staff.command("sign-out-everywhere")
@click.argument("username")
@click.option("--by", "actor", default=None, help="Who does it (recorded; default: your login name).")
def staff_sign_out_everywhere(username: str, actor: str | None) -> None:
    """End every signed-in session of USERNAME at once, on every browser and every copy of its cookie.

    For a lost or shared computer, or a cookie that may have been copied: the person signs in again.
    """
    from tasks.staff_admin import sign_out_everywhere

    with _accounts() as (session, now, by, sign_in, _engine):
        ended = sign_out_everywhere(session, username, sign_in, by=actor or by, now=now)
    click.echo(f"ended {ended} signed-in session{'s' if ended != 1 else ''} of {username}")


# ---------------------------------------------------------------------------------------- clock


@cli.group()
def clock() -> None:
    """The demo clock (only on a deployment with RISKFLOW_DEMO=true)."""


@clock.command("advance")
@click.argument("duration")
def clock_advance(duration: str) -> None:
    """Move a demo deployment's time on by DURATION (14d, 36h, 2w or an ISO 8601 duration like P14D)."""
    settings = load_settings()
    if not settings.demo:
        raise click.ClickException(
            "the clock can only be moved on a demo deployment (RISKFLOW_DEMO=true); real cases keep real time"
        )
    delta = parse_duration(duration)
    with open_engine(settings) as engine:
        total = advance_demo_clock(engine.db, engine.clock, delta, actor=_login_name())
        now = engine.clock.now()
    click.echo(f"the demo clock is now {format_local(now)} ({_days(total)} ahead of real time)")


@clock.command("show")
def clock_show() -> None:
    """Print the time the deployment runs on."""
    settings = load_settings()
    with open_engine(settings) as engine:
        click.echo(f"{format_local(engine.clock.now())}{' (demo clock)' if settings.demo else ''}")


_DURATION = re.compile(r"^(\d+)\s*([wdhm])$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """14d, 36h, 2w, 90m, or an ISO 8601 duration such as P14D or PT36H."""
    value = text.strip()
    found = _DURATION.match(value)
    if found:
        return timedelta(**{_UNITS[found.group(2).lower()]: int(found.group(1))})
    try:
        parsed = TimerEventDefinition.parse_iso_duration(value.upper())
        delta: timedelta = TimerEventDefinition.get_timedelta_from_start(parsed, datetime.now(UTC))
    except Exception:  # SpiffWorkflow's parser raises a bare Exception for bad input
        raise click.ClickException(f"{text!r} is not a duration: use 14d, 36h, 2w or P14D") from None
    if delta <= timedelta(0):
        raise click.ClickException("the clock only moves forward: give a positive duration")
    return delta


def format_local(when: datetime) -> str:
    """A time as staff read it: Europe/London, day month year."""
    return when.astimezone(DISPLAY_ZONE).strftime("%-d %b %Y %H:%M %Z")


def _days(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 86400:g} day(s)"


def configure_logging() -> None:
    """Log to standard error, one line per event, with the time and where it came from."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # SpiffWorkflow logs every task state change at INFO: thousands of lines a minute from a busy
    # worker, and time spent formatting them. Its warnings and errors still come through.
    logging.getLogger("spiff").setLevel(logging.WARNING)


def _warn_if_front_end_missing() -> None:
    """Pages without GOV.UK Frontend still work, but look broken: say how to put it right."""
    from webui.vendor import SETUP_HINT, VendorError, missing_files

    try:
        missing = missing_files()
    except VendorError as err:
        click.echo(f"warning: {err}", err=True)
        return
    if missing:
        click.echo(f"warning: {len(missing)} front-end file(s) are missing: {SETUP_HINT}", err=True)


def _stop_on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


# ------------------------------------------------------------------------------------------ demo


@cli.group()
def demo() -> None:
    """Demo deployments only (RISKFLOW_DEMO=true): synthetic staff, cases and sign-ins."""


@demo.command("load")
@click.option(
    "--cases",
    type=click.IntRange(min=1),
    default=None,
    help="Cases to run through the process (default 1,900: the whole area; fewer build faster).",
)
def demo_load(cases: int | None) -> None:
    """Build the synthetic area (once): its staff, then its cases run through the real process by
    simulated staff over the months before today; give one demo user per grade their published
    password."""
    from webui.demo import DEMO_CASES, DemoProcessMissing, load_demo

    settings = load_settings()
    if not settings.demo:
        raise click.ClickException(
            "demo users have published passwords, so they are only made on a demo deployment "
            "(RISKFLOW_DEMO=true)"
        )
    wanted = cases or DEMO_CASES
    with open_engine(settings) as engine:
        try:
            generated, users, _ = load_demo(engine, cases=wanted, progress=click.echo)
        except DemoProcessMissing as err:
            raise click.ClickException(str(err)) from None
    click.echo("generated the synthetic demo area" if generated else "the demo area is already loaded")
    for user in users:
        note = "" if user.new else " (password already set: kept)"
        click.echo(f"  {user.grade.display_name:<28} {user.username:<24} {user.password}{note}")


@cli.command("figures")
def figures() -> None:
    """Print the area's figures from the register: cases on each route the outcome chose, the main
    offences, sentence plans on time against the National Standard, closures on time against the
    order's or licence's end date, and open cases by stage."""
    from tasks.area_figures import area_figures, figures_lines

    settings = load_settings()
    with open_engine(settings) as engine, engine.db.transaction(write=False) as session:
        lines = figures_lines(area_figures(engine, session, now=engine.clock.now()))
    for line in lines:
        click.echo(line)


# --------------------------------------------------------------------------------------- helpers


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "command line"


def _safe_url() -> str:
    try:
        return load_settings().safe_database_url
    except ConfigError:
        return "RISKFLOW_DATABASE_URL"


def _first_line(error: BaseException | None) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0] if text else "no detail given"
