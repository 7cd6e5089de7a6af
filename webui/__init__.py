"""The riskflow web application: a Flask factory that wires the database, the clock and the engine.

`create_app` builds one `Database` and one `ProcessEngine` per application and keeps them, with the
settings and the clock, on `app.extensions["riskflow"]`; views reach them through `riskflow()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.clock import Clock, SystemClock
from engine.db import Database
from engine.democlock import demo_clock
from engine.runtime import ProcessEngine
from tasks.wiring import build_engine
from webui import routing
from webui.config import Settings, load_settings

EXTENSION = "riskflow"
csrf = CSRFProtect()  # every POST, PUT, PATCH and DELETE needs the session's token


@dataclass(frozen=True)
class Riskflow:
    """What every view, command and worker of one application shares."""

    settings: Settings
    db: Database
    engine: ProcessEngine
    clock: Clock
    # Real time, for sign-in limits and session time-outs: a demo's clock may be weeks ahead, and
    # moving it on must not sign everyone out.
    wall_clock: Clock


def create_app(
    config: Mapping[str, Any] | None = None, *, clock: Clock | None = None, wall_clock: Clock | None = None
) -> Flask:
    """Build the application; `config` holds Flask settings and RISKFLOW_* overrides, `clock` the time
    the work runs on and `wall_clock` the real time sign-ins and sessions are timed by (for tests)."""
    config = dict(config or {})
    settings = load_settings(overrides=config)
    app = Flask(__name__)
    routing.init_app(app)  # before any route: every <int:...> is a database id
    app.config.from_mapping(
        SESSION_COOKIE_NAME="riskflow_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Browsers treat http://127.0.0.1 and localhost as secure, so `make run` still works.
        SESSION_COOKIE_SECURE=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),  # one working day, then sign in again
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lasts as long as the signed-in session
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
    )
    app.config.from_mapping({k: v for k, v in config.items() if not k.startswith("RISKFLOW_")})
    if settings.trusted_proxies:
        # The client's address (for the sign-in throttle and the audit trail) and whether it came
        # over HTTPS (for Strict-Transport-Security), as the trusted proxies saw them.
        count = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.secret_key_for_app(testing=bool(app.config.get("TESTING")))

    db = Database(settings.database_url)
    clock = clock or clock_for(settings, db)
    wall_clock = wall_clock or SystemClock()
    app.extensions[EXTENSION] = Riskflow(settings, db, build_engine(db, clock), clock, wall_clock)

    from webui import (
        access_lists,
        api,
        auth,
        case_changes,
        case_intake,
        cases,
        display,
        errors,
        health,
        inbox,
        metrics,
        monitor,
        oidc,
        policy,
        processes,
        security,
        staff,
        taskpage,
        vendor,
    )

    security.init_app(app)
    csrf.init_app(app)
    display.init_app(app)
    vendor.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    oidc.init_app(app)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(taskpage.bp)
    app.register_blueprint(policy.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(case_changes.bp)
    app.register_blueprint(access_lists.bp)
    app.register_blueprint(case_intake.bp)
    app.register_blueprint(processes.bp)
    app.register_blueprint(monitor.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(health.bp)
    metrics.init_app(app)
    api.init_app(app)
    return app


def clock_for(settings: Settings, db: Database) -> Clock:
    """Real time; for a demo, real time plus the offset the demo clock keeps in the database."""
    return demo_clock(db) if settings.demo else SystemClock()


def riskflow(app: Flask | None = None) -> Riskflow:
    """The shared objects of `app` (default: the application handling this request)."""
    extension = (app or current_app).extensions[EXTENSION]
    assert isinstance(extension, Riskflow)  # noqa: S101 - set only by create_app
    return extension
