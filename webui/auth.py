"""Sign-in and sign-out, and the rule that every page but sign-in and the health check needs it.

Passwords are checked against webui.credentials, after webui.throttle's limits on failed sign-ins.
The person signing in is told only "the username or password is not right", in the same time,
whether the username is unknown, the password wrong, the account inactive or the username slowed
down after repeated failures; the audit trail records which. Only the per-address throttle answers
differently (429, with the minutes to wait), and it concerns the address, never a username. The
signed-in person is loaded from the register on each request, so someone made inactive on the staff
list is signed out at their next click.

Each sign-in is a session row on the server (webui.staff_sessions); the signed cookie carries only
the secret that names it, and every request checks that row, so signing out, a new password, being
made inactive or `riskflow staff sign-out-everywhere` ends every copy of the cookie at once.

A signed-in person changes their own password at /account/password (webui.accounts applies the
password policy). A wrong current password there counts against webui.throttle exactly as a failed
sign-in does, so an open session cannot be used to guess the password faster than the sign-in page
allows. Someone signed in with a temporary password an administrator set is sent there from every
page until they have chosen their own; a temporary password not changed within
RISKFLOW_TEMPORARY_PASSWORD_HOURS no longer signs in (the same answer as a wrong password; the audit
says it expired).

Staff may also sign in through the area's identity provider by OpenID Connect (webui.oidc), when one
is configured; that ends in the same kind of session (start_session), marked as begun through the
provider, to which the password rules (temporary passwords, changing one's password) do not apply.
RISKFLOW_LOCAL_SIGN_IN=false turns password sign-in off: the form is not shown, a password posted
to it is refused unchecked, and sessions begun with a password end at their next request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from casework.models import Staff
from engine.models import AuditEvent
from engine.runtime import Actor
from webui import metrics, riskflow, staff_sessions, throttle
from webui.accounts import WRONG_CURRENT, AccountError, change_own_password
from webui.credentials import (
    check_password,
    must_change_password,
    spend_a_check,
    temporary_password_expired,
)

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.session_protection = "strong"
login_manager.login_view = "auth.sign_in"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"

# Endpoints anyone may reach; every other page sends a signed-out visitor to sign in.
# /metrics checks the operators' token itself (webui.metrics).
PUBLIC_ENDPOINTS = frozenset(
    {"auth.sign_in", "oidc.start", "oidc.callback", "health.healthz", "static", "openapi", "metrics.metrics"}
)
# The pages someone with a temporary password may reach before choosing their own.
TEMPORARY_PASSWORD_ENDPOINTS = frozenset({"auth.change_password", "auth.sign_out"})
# Blueprints that check their own callers (the JSON API takes bearer tokens, never the session).
SELF_AUTHENTICATING_BLUEPRINTS = frozenset({"api"})
USERNAME_LIMIT = throttle.USERNAME_LENGTH
SESSION_KEY = "sid"  # the key in the signed cookie for the secret naming the session's row
NOT_RIGHT = (
    "The username or password is not right. Check them and try again. After several wrong tries, "
    "wait a minute between tries."
)


@dataclass(frozen=True)
class SignedInStaff(UserMixin):  # type: ignore[misc]  # flask-login ships no types
    """The person signed in: who they are on the register and the roles their grade gives."""

    username: str
    display_name: str
    grade_title: str
    roles: frozenset[str]
    staff_id: int
    team_id: int | None
    must_change_password: bool = False
    signed_in_with: str = staff_sessions.PASSWORD  # or staff_sessions.OIDC: the password rules do not apply

    def get_id(self) -> str:
        return self.username

    @property
    def actor(self) -> Actor:
        """The person as the engine knows them."""
        return Actor(self.username, self.roles)


def init_app(app: Flask) -> None:
    """Install the login manager and the sign-in gate in front of every view."""
    login_manager.init_app(app)
    login_manager.user_loader(load_staff)
    app.before_request(require_sign_in)
    app.register_blueprint(bp)


def load_staff(username: str) -> SignedInStaff | None:
    """The active member of staff with this username, when the session the cookie names is still live
    (webui.staff_sessions); otherwise None, which signs them out."""
    shared = riskflow()
    now = shared.wall_clock.now()
    limits = session_limits()
    with shared.db.transaction(write=False) as db_session:
        verdict = staff_sessions.check(db_session, session.get(SESSION_KEY), username, now, limits)
        staff = db_session.scalar(select(Staff).where(Staff.username == username, Staff.active.is_(True)))
        signed_in = signed_in_staff(staff) if staff is not None and verdict.live else None
        by_password = verdict.signed_in_with == staff_sessions.PASSWORD
        if signed_in is not None and not by_password:
            signed_in = replace(signed_in, signed_in_with=verdict.signed_in_with)
        elif signed_in is not None and must_change_password(db_session, username):
            signed_in = replace(signed_in, must_change_password=True)
    if signed_in is not None and by_password and not shared.settings.local_sign_in:
        # Password sign-in was turned off after this session began with a password: it ends.
        with shared.db.transaction() as db_session:
            staff_sessions.end(db_session, verdict.session_id, now, "password_sign_in_off")
            audit(db_session, username, "session_ended_password_sign_in_off")
        return None
    if signed_in is not None and verdict.touch:
        with shared.db.transaction() as db_session:
            staff_sessions.touch(db_session, verdict.session_id, now)
    elif staff is None and verdict.live:  # made inactive: every copy of every session of theirs ends
        with shared.db.transaction() as db_session:
            staff_sessions.end_all(db_session, username, now, "inactive")
    elif verdict.reason in ("idle", "expired"):
        with shared.db.transaction() as db_session:
            staff_sessions.end(db_session, verdict.session_id, now, verdict.reason)
            audit(db_session, username, f"session_{verdict.reason}")
    return signed_in


def session_limits() -> staff_sessions.Limits:
    """This deployment's idle and absolute limits on a signed-in session."""
    idle = timedelta(minutes=riskflow().settings.session_idle_minutes)
    return staff_sessions.Limits(idle=idle, absolute=current_app.permanent_session_lifetime)


def require_sign_in() -> BaseResponse | None:
    """Send a signed-out visitor of any non-public page to sign in (unknown URLs still 404)."""
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.blueprint in SELF_AUTHENTICATING_BLUEPRINTS:
        return None
    if current_user.is_authenticated:
        if current_user.must_change_password and request.endpoint not in TEMPORARY_PASSWORD_ENDPOINTS:
            return redirect(url_for("auth.change_password"))
        return None
    result: BaseResponse = login_manager.unauthorized()
    return result


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> str | BaseResponse | tuple[str, int]:
    """Show the sign-in page (the identity provider's button, the password form, or both); check the
    username and password posted to it."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("inbox.index"))
    if request.method == "GET":
        return _sign_in_page({}, "")
    username = request.form.get("username", "").strip()[:USERNAME_LIMIT]
    if not riskflow().settings.local_sign_in:
        # Refused without looking at the password: only the identity provider signs people in here.
        with riskflow().db.transaction() as db_session:
            audit(db_session, username, "sign_in_refused_password_sign_in_off")
        message = f"Signing in with a password is turned off. Use \u201c{oidc_button_text()}\u201d instead."
        return _sign_in_page({"oidc": message}, ""), 403
    password = request.form.get("password", "")
    errors = {}
    if not username:
        errors["username"] = "Enter your username"
    if not password:
        errors["password"] = "Enter your password"  # noqa: S105 - a message, not a password
    if errors:
        return _sign_in_page(errors, username), 400
    outcome = _attempt(username, password)
    if isinstance(outcome, SignedInStaff):
        start_session(outcome, staff_sessions.PASSWORD)
        return redirect(safe_next(request.args.get("next")) or url_for("inbox.index"))
    status = 401
    if isinstance(outcome, throttle.Hold):
        minutes = outcome.minutes_left(riskflow().wall_clock.now())
        message = (
            f"There have been too many failed sign-ins from your network. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}."
        )
        status = 429
    else:
        message = NOT_RIGHT
    response = Response(_sign_in_page({"username": message}, username), status=status)
    if isinstance(outcome, throttle.Hold):
        response.headers["Retry-After"] = str(outcome.minutes_left(riskflow().wall_clock.now()) * 60)
    return response


def start_session(staff: SignedInStaff, signed_in_with: str) -> None:
    """Sign `staff` in on this browser: a fresh session on the server, and a fresh cookie naming it
    (nothing set in the cookie before, such as a sign-in's state, survives)."""
    session.clear()
    shared = riskflow()
    with shared.db.transaction() as db_session:
        secret = staff_sessions.begin(
            db_session, staff.username, shared.wall_clock.now(), session_limits(), signed_in_with
        )
    session[SESSION_KEY] = secret
    login_user(replace(staff, signed_in_with=signed_in_with))
    session.permanent = True


def provider_label() -> str:
    """What the area's identity provider is called on riskflow's pages."""
    oidc = riskflow().settings.oidc
    return oidc.label if oidc is not None else "your organisation's account"


def oidc_button_text() -> str:
    """The words on the identity provider's button ("" when there is none)."""
    return f"Sign in with {provider_label()}" if riskflow().settings.oidc is not None else ""


def _sign_in_page(errors: dict[str, str], username: str) -> str:
    settings = riskflow().settings
    return render_template(
        "auth/sign_in.html",
        errors=errors,
        username=username,
        demo_users=_demo_users(),
        local_sign_in=settings.local_sign_in,
        oidc_button=oidc_button_text(),
    )


def _demo_users() -> list[Any]:
    """On a demo deployment with password sign-in, its demo users and their published passwords; else
    nothing."""
    shared = riskflow()
    if not (shared.settings.demo and shared.settings.local_sign_in):
        return []
    from webui.demo import signed_up_demo_users

    with shared.db.transaction(write=False) as db_session:
        return list(signed_up_demo_users(db_session))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> str | BaseResponse | tuple[str, int]:
    """Change my password: the current one, then the new one twice. Every other session of mine
    ends; this browser carries on in a fresh session, so no earlier copy of its cookie works. Someone
    signed in through the identity provider is told their password is kept there."""
    if current_user.signed_in_with != staff_sessions.PASSWORD:
        return render_template(
            "auth/message.html",
            heading="Your password is kept by your organisation",
            paragraphs=[
                f"You signed in with {provider_label()}, so riskflow has no password of yours to change. "
                "Change it where your organisation tells you to (usually its own account or service "
                "desk pages)."
            ],
        ), 404
    temporary = current_user.must_change_password
    if request.method == "GET":
        return render_template("auth/change_password.html", errors={}, temporary=temporary)
    fields = {name: request.form.get(name, "") for name in ("current", "new", "confirm")}
    errors = {
        name: message
        for name, message in (
            ("current", "Enter your current password"),
            ("new", "Enter a new password"),
            ("confirm", "Enter the new password again"),
        )
        if not fields[name]
    }
    status = 400
    if not errors:
        errors, status = _change(current_user.username, fields)
    if errors:
        return render_template("auth/change_password.html", errors=errors, temporary=temporary), status
    flash("Your password has been changed. You are signed out everywhere else.", "success")
    return redirect(url_for("inbox.index"))


def _change(username: str, fields: dict[str, str]) -> tuple[dict[str, str], int]:
    """Change the password and start this browser's fresh session; or the error, under its field, and
    the status to answer with. The current password is held to the sign-in throttle: refused unchecked
    while the address or the username is held, and a wrong one counted as a failed sign-in."""
    shared = riskflow()
    now = shared.wall_clock.now()
    address = request.remote_addr or "unknown"
    with shared.db.transaction() as db_session:
        hold = throttle.hold_on(db_session, address, username, now)
        if hold is not None:
            spend_a_check(fields["current"])  # the same time as checking it
            audit(db_session, username, f"password_change_refused_{hold.kind}_throttled")
            return _held_answer(hold, now)
        try:
            change_own_password(
                db_session, username, fields["current"], fields["new"], fields["confirm"], now=now
            )
        except AccountError as err:
            if err.field == "current":
                _count_failure(db_session, address, username, now, "password_change_wrong_current")
            return {err.field: err.message}, 400
        throttle.forget_username(db_session, username)
        secret = staff_sessions.begin(db_session, username, now, session_limits(), staff_sessions.PASSWORD)
    session[SESSION_KEY] = secret
    return {}, 200


def _held_answer(hold: throttle.Hold, now: datetime) -> tuple[dict[str, str], int]:
    """The change-password page's answer while the throttle holds: the address's wait, or (for the
    username's slowdown) the same words as a wrong current password."""
    if hold.kind == "address":
        minutes = hold.minutes_left(now)
        return {
            "current": f"There have been too many failed sign-ins from your network. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}."
        }, 429
    return {"current": WRONG_CURRENT}, 400


@bp.post("/sign-out")
def sign_out() -> Response | BaseResponse:
    """Sign out: end the session on the server, so no copy of its cookie works any more."""
    username = current_user.username
    secret = session.get(SESSION_KEY)
    logout_user()
    session.clear()
    shared = riskflow()
    now = shared.wall_clock.now()
    with shared.db.transaction() as db_session:
        verdict = staff_sessions.check(db_session, secret, username, now, session_limits())
        if verdict.session_id is not None:
            staff_sessions.end(db_session, verdict.session_id, now, "signed_out")
        audit(db_session, username, "signed_out")
    flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


def _attempt(username: str, password: str) -> SignedInStaff | throttle.Hold | None:
    """The signed-in person; the address's hold; or None for every other refusal (each audited)."""
    shared = riskflow()
    now = shared.wall_clock.now()
    address = request.remote_addr or "unknown"
    with shared.db.transaction() as db_session:
        hold = throttle.hold_on(db_session, address, username, now)
        if hold is not None and hold.kind == "address":
            audit(db_session, username, "sign_in_refused_address_throttled")
            return hold
        if hold is not None:  # the username is slowed: the same time and answer as a wrong password
            spend_a_check(password)
            audit(db_session, username, "sign_in_refused_username_slowed")
            return None
        staff = db_session.scalar(select(Staff).where(Staff.username == username))
        if check_password(db_session, username, password) and staff is not None and staff.active:
            if not temporary_password_expired(db_session, username, now, temporary_password_lifetime()):
                throttle.forget_username(db_session, username)
                audit(db_session, username, "signed_in")
                return signed_in_staff(staff)
            # Counted like a wrong password, so nothing about it differs from one but the audit.
            _count_failure(db_session, address, username, now, "sign_in_refused_temporary_password_expired")
            return None
        _count_failure(db_session, address, username, now, "sign_in_failed")
    return None


def _count_failure(db_session: Session, address: str, username: str, now: datetime, event: str) -> None:
    """A wrong password (at sign-in or as the current one): count it, audit why, and audit the
    moment it slows the username or throttles the address."""
    throttle.record_failure(db_session, address, username, now)
    audit(db_session, username, event)
    metrics.sign_in_failed(event)
    if throttle.failures_for(db_session, username, now) == throttle.USERNAME_LIMIT:
        audit(db_session, username, "sign_in_username_slowed")
    if throttle.failures_from(db_session, address, now) == throttle.ADDRESS_LIMIT:
        audit(db_session, username, "sign_in_address_throttled")


def temporary_password_lifetime() -> timedelta:
    """How long a temporary password set by an administrator keeps working if not changed."""
    return timedelta(hours=riskflow().settings.temporary_password_hours)


def signed_in_staff(staff: Staff) -> SignedInStaff:
    return SignedInStaff(
        username=staff.username,
        display_name=staff.display_name,
        grade_title=staff.grade.display_name,
        roles=staff.roles,
        staff_id=staff.id,
        team_id=staff.team_id,
    )


def audit(db_session: Session, username: str, event: str, **detail: str) -> None:
    db_session.add(
        AuditEvent(
            at=riskflow().clock.now(),
            actor=username[:USERNAME_LIMIT],
            event=event,
            detail={"remote_addr": request.remote_addr, **detail},
        )
    )


def safe_next(target: str | None) -> str | None:
    """`next` only when it is a path on this site (never another host)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
