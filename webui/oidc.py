"""Signing in through the area's identity provider by OpenID Connect (when RISKFLOW_OIDC_ISSUER is set).

The flow is the authorization code flow with PKCE, run by Authlib's Flask client:

1. `GET /sign-in/oidc` (the button on the sign-in page) sends the browser to the provider's
   authorization endpoint with a fresh `state`, `nonce` and PKCE challenge (S256). Authlib keeps the
   state, nonce and verifier in this browser's signed session cookie, under the state's name.
2. The provider sends the browser back to `GET /sign-in/oidc/callback` with a code. Authlib refuses
   a state this browser was not given (or has used already), then exchanges the code at the token
   endpoint with riskflow's client secret and the PKCE verifier, and checks the ID token: its
   signature against the provider's published keys, its issuer (the discovery document's, which
   must be the configured issuer), its audience (riskflow's client id), its expiry and issue time
   and its nonce. An ID token signed with `none` is never accepted.
3. The claim RISKFLOW_OIDC_USERNAME_CLAIM (from the ID token, or from the userinfo endpoint when the
   ID token does not carry it, for the same subject) names the member of staff: the Staff row with
   that username, or with the part before `@RISKFLOW_OIDC_USERNAME_DOMAIN` when that is set. Nobody
   is added to the staff list by signing in: an unknown or inactive member of staff is refused with
   the same page, which names only the identity the provider vouched for (what the person already
   knows about themselves) and says to ask their SPO or the area's administrator to add them.
4. A matched, active member of staff gets the same server-side session as a password sign-in
   (webui.staff_sessions, with the same idle and absolute limits; signing out ends it), marked as
   begun through the provider, so the temporary-password rules do not apply to it.

Every outcome is written to the audit trail with the client's address: `signed_in` (with
`signed_in_with: oidc`, the issuer and subject), `oidc_sign_in_refused_unknown`,
`oidc_sign_in_refused_inactive`, `oidc_sign_in_refused_no_username`, `oidc_sign_in_failed` (with
why) and `oidc_provider_unreachable`. Signing out of riskflow does not sign the person out of the
identity provider (no RP-initiated logout): their organisation's own session is theirs to end.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from casework.models import Staff
from webui import riskflow, staff_sessions
from webui.auth import audit, provider_label, safe_next, signed_in_staff, start_session
from webui.config import OidcSettings

bp = Blueprint("oidc", __name__)
log = logging.getLogger(__name__)

EXTENSION = "riskflow_oidc"
CLIENT_NAME = "idp"
SCOPE = "openid profile email"
TIMEOUT_SECONDS = 10  # for each request to the provider (discovery, keys, token, userinfo)
NEXT_KEY = "oidc_next"  # where to go once signed in, kept in the cookie across the round trip
USERNAME_LIMIT = 100


class Refusal(Exception):
    """The provider's answer did not sign anyone in: the audit event, and what the page says."""

    def __init__(self, event: str, detail: str) -> None:
        super().__init__(detail)
        self.event = event
        self.detail = detail


def init_app(app: Flask) -> None:
    """Register the provider as Authlib's client, and the two routes, when one is configured."""
    oidc = riskflow(app).settings.oidc
    if oidc is None:
        return
    oauth = OAuth(app)
    app.extensions[EXTENSION] = oauth.register(
        name=CLIENT_NAME,
        client_id=oidc.client_id,
        client_secret=oidc.client_secret,
        server_metadata_url=oidc.discovery_url,
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "default_timeout": TIMEOUT_SECONDS},
    )
    app.register_blueprint(bp)


def _settings() -> OidcSettings:
    oidc = riskflow().settings.oidc
    assert oidc is not None  # noqa: S101 - the routes exist only when it is set
    return oidc


def _client() -> Any:
    return current_app.extensions[EXTENSION]


def _metadata() -> dict[str, Any]:
    """The provider's discovery document (fetched once per process), checked: it must be the
    configured issuer's own, and an unsigned ID token (`none`) is never among the accepted ones."""
    metadata: dict[str, Any] = _client().load_server_metadata()
    expected = _settings().issuer.rstrip("/")
    if str(metadata.get("issuer", "")).rstrip("/") != expected:
        raise Refusal(
            "oidc_sign_in_failed",
            f"the discovery document names issuer {metadata.get('issuer')!r}, not {expected!r}",
        )
    algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    metadata["id_token_signing_alg_values_supported"] = [
        name for name in algorithms if str(name).lower() != "none"
    ] or ["RS256"]
    return metadata


@bp.get("/sign-in/oidc")
def start() -> BaseResponse | tuple[str, int]:
    """Send the browser to the identity provider to sign in, then back to `callback`."""
    try:
        _metadata()
        target = safe_next(request.args.get("next"))
        response: BaseResponse = _client().authorize_redirect(url_for("oidc.callback", _external=True))
    except Refusal as refusal:
        return _failed(refusal)
    except requests.RequestException as err:
        return _unreachable(err)
    if target:
        session[NEXT_KEY] = target
    return response


@bp.get("/sign-in/oidc/callback")
def callback() -> BaseResponse | tuple[str, int]:
    """The provider's answer: check it, find the member of staff, and sign them in (or say why not)."""
    try:
        _metadata()
        token = _client().authorize_access_token()
        claims = _claims(token)
    except Refusal as refusal:
        return _failed(refusal)
    except (AuthlibBaseError, JoseError) as err:
        return _failed(Refusal("oidc_sign_in_failed", _describe(err)))
    except requests.RequestException as err:
        return _unreachable(err)
    oidc = _settings()
    subject = str(claims.get("sub", ""))
    detail = {"signed_in_with": staff_sessions.OIDC, "issuer": oidc.issuer, "subject": subject[:200]}
    identity = claims.get(oidc.username_claim)
    username = _username(identity, oidc)
    if username is None:
        with riskflow().db.transaction() as db_session:
            audit(db_session, str(identity or subject), "oidc_sign_in_refused_no_username", **detail)
        return _no_username(identity, oidc)
    target = session.pop(NEXT_KEY, None)
    with riskflow().db.transaction() as db_session:
        staff = db_session.scalar(select(Staff).where(Staff.username == username))
        if staff is None or not staff.active:
            event = "oidc_sign_in_refused_unknown" if staff is None else "oidc_sign_in_refused_inactive"
            audit(db_session, username, event, **detail)
            signed_in = None
        else:
            audit(db_session, username, "signed_in", **detail)
            signed_in = signed_in_staff(staff)
    if signed_in is None:
        return _not_on_staff_list(str(identity))
    start_session(signed_in, staff_sessions.OIDC)
    return redirect(safe_next(target) or url_for("inbox.index"))


def _claims(token: dict[str, Any]) -> dict[str, Any]:
    """The checked ID token's claims, with the userinfo endpoint's for the same subject beneath them
    when the ID token does not carry the username claim."""
    claims = token.get("userinfo")
    if not claims:
        raise Refusal("oidc_sign_in_failed", "the provider's answer held no ID token")
    claims = dict(claims)
    if _settings().username_claim not in claims and _metadata().get("userinfo_endpoint"):
        userinfo = dict(_client().userinfo(token=token))
        if userinfo.get("sub") != claims.get("sub"):
            raise Refusal("oidc_sign_in_failed", "the userinfo endpoint answered for another subject")
        claims = {**userinfo, **claims}
    return claims


def _username(identity: Any, oidc: OidcSettings) -> str | None:
    """The staff username the claim names, or None when it names none riskflow could hold."""
    if not isinstance(identity, str):
        return None
    value = identity.strip().lower()
    if oidc.username_domain is not None:
        local, at, domain = value.rpartition("@")
        if not at or domain != oidc.username_domain:
            return None
        value = local
    if not value or "@" in value or len(value) > USERNAME_LIMIT:
        return None
    return value


def _describe(err: Exception) -> str:
    """The error for the audit trail and the log: its kind, the OAuth error code and what it says."""
    code = getattr(err, "error", None)
    text = str(getattr(err, "description", "") or err)
    return ": ".join(str(part) for part in (type(err).__name__, code, text) if part)[:300]


def _failed(refusal: Refusal) -> tuple[str, int]:
    """The sign-in could not be checked (a state this browser was not given, a used or tampered code,
    an ID token that fails its checks, the provider saying no)."""
    log.warning("sign-in through the identity provider refused: %s", refusal.detail)
    with riskflow().db.transaction() as db_session:
        audit(db_session, "unknown", refusal.event, reason=refusal.detail)
    return _page(
        "Your sign-in did not complete",
        [
            f"riskflow could not check your sign-in with {provider_label()}. This happens when the "
            "sign-in was started in another tab or window, took too long, or was already used.",
            "Start again from riskflow's sign-in page. If it happens again, tell the area's riskflow "
            "administrator, giving the time you tried.",
        ],
        400,
    )


def _unreachable(err: Exception) -> tuple[str, int]:
    log.warning("the identity provider could not be reached: %s", _describe(err))
    with riskflow().db.transaction() as db_session:
        audit(db_session, "unknown", "oidc_provider_unreachable", reason=_describe(err))
    return _page(
        f"riskflow cannot reach {provider_label()} just now",
        [
            "Try again in a few minutes. If it keeps happening, tell your service desk that riskflow "
            "cannot reach the sign-in service.",
        ],
        502,
    )


def _no_username(identity: Any, oidc: OidcSettings) -> tuple[str, int]:
    expected = f"an address at {oidc.username_domain}" if oidc.username_domain else "your riskflow username"
    said = f" It said {identity!s:.100}." if isinstance(identity, str) and identity else ""
    return _page(
        "riskflow cannot tell who you are",
        [
            f"{provider_label().capitalize()} signed you in, but did not give riskflow {expected} "
            f"(the {oidc.username_claim} claim), which riskflow uses to find you on its staff list.{said}",
            "Ask the area's riskflow administrator to check how the sign-in service is set up for riskflow.",
        ],
        403,
    )


def _not_on_staff_list(identity: str) -> tuple[str, int]:
    """The same page whether nobody has that username or they are no longer active: it names only
    the identity the provider vouched for, which the person already knows."""
    return _page(
        "You cannot use riskflow yet",
        [
            f"You signed in with {provider_label()} as {identity:.100}, but riskflow has no active "
            "account for you.",
            "Staff are added to riskflow by the area's administrators. Ask your Senior Probation "
            "Officer or the area's riskflow administrator to add you to riskflow's staff list (or to "
            "make your account active again), giving them the name above. Then sign in again.",
        ],
        403,
    )


def _page(heading: str, paragraphs: list[str], status: int) -> tuple[str, int]:
    page = render_template("auth/message.html", heading=heading, paragraphs=paragraphs, sign_in_again=True)
    return page, status
