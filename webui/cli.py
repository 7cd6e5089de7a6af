"""The `riskflow` command: set up the database, check and deploy models, serve the app.

Every mistake an operator can make (a missing setting, a database that is not set up or does not
answer, a folder that is not there) ends in one line that says what to do, never a traceback.
"""

from __future__ import annotations

import getpass
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from engine.bundle import LANES_FILE, Bundle
from engine.clock import SystemClock
from engine.db import Database
from engine.errors import DefinitionError, Problem
from engine.runtime import ProcessEngine
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
def serve() -> None:
    """Serve the web app on RISKFLOW_HOST:RISKFLOW_PORT (default http://127.0.0.1:5000)."""
    from waitress.server import create_server

    from webui import create_app, riskflow

    configure_logging()
    app = create_app()
    shared = riskflow(app)
    settings = shared.settings
    try:
        require_current_schema(shared.db.engine, settings.database_url)
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
        shared.db.dispose()


def configure_logging() -> None:
    """Log to standard error, one line per event, with the time and where it came from."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _stop_on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


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
