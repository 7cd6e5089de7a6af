"""Signing in through the area's identity provider by OpenID Connect, against a real provider (the
certified `oidc-provider` package, started by tests/oidc_provider.py): the staff list decides who may
use riskflow, the session is the same server-side one as a password sign-in, and password sign-in
can be turned off."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from oidc_provider import Provider, app_path, callback_url, running_provider, sign_in_through
from sqlalchemy import select
from webui_client import PASSWORD, add_staff, fast_password_hashing, sign_in, web_app

from casework.vocabulary import Grade
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent
from webui import riskflow
from webui.config import ConfigError, load_settings
from webui.credentials import set_password
from webui.staff_sessions import StaffSession

__all__ = ["fast_password_hashing"]  # the autouse fixture

COOKIE = "riskflow_session"
AREA = "cumbria.probation.example"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "3f1c-om-north": {"preferred_username": "om.north", "email": f"om.north@{AREA}", "name": "Om North"},
    "77aa-spo-north": {"preferred_username": "SPO.North", "email": f"SPO.North@{AREA}"},
    "9b20-left": {"preferred_username": "om.left", "email": f"om.left@{AREA}"},
    "c4d1-stranger": {"preferred_username": "ida.stranger", "email": f"ida.stranger@{AREA}"},
    "e5e5-elsewhere": {"preferred_username": "om.north.elsewhere", "email": "om.north@elsewhere.example"},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """The provider as the specification reads by default: the ID token names only the subject, and the
    profile and email claims come from the userinfo endpoint."""
    with running_provider(ACCOUNTS) as running:
        yield running


@pytest.fixture(scope="module")
def provider_with_claims_in_id_token() -> Iterator[Provider]:
    """A provider that puts the profile and email claims in the ID token itself (as many do)."""
    with running_provider(ACCOUNTS, claims_in_id_token=True) as running:
        yield running


class AppMaker(Protocol):
    def __call__(self, provider: Provider, **config: Any) -> Flask: ...


@pytest.fixture
def make_app(database: Database, clock: ManualClock, staff: None) -> Iterator[AppMaker]:
    """Apps on the test database pointed at a provider, each with its own settings; closed afterwards."""
    made: list[Flask] = []

    def make(provider: Provider, **config: Any) -> Flask:
        made.append(web_app(database, clock, wall_clock=clock, **provider.settings(**config)))
        return made[-1]

    yield make
    for app in made:
        riskflow(app).db.dispose()


@pytest.fixture
def staff(database: Database) -> None:
    add_staff(database, "om.north", Grade.PO)
    add_staff(database, "spo.north", Grade.SPO)
    add_staff(database, "om.left", Grade.PO, active=False)


@pytest.fixture
def app(make_app: AppMaker, provider: Provider) -> Flask:
    return make_app(provider)


def audit_events(database: Database) -> list[tuple[str, str, dict[str, Any]]]:
    with database.transaction(write=False) as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        return [(row.actor, row.event, dict(row.detail or {})) for row in rows]


def sessions(database: Database) -> list[tuple[str, str, str | None]]:
    with database.transaction(write=False) as session:
        rows = session.scalars(select(StaffSession).order_by(StaffSession.id)).all()
        return [(row.username, row.signed_in_with, row.end_reason) for row in rows]


def opens_case_pages(client: FlaskClient) -> bool:
    response = client.get("/cases")
    if response.status_code == 302:
        assert "/sign-in" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def text_of(response: Any) -> str:
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


# --- signing in -----------------------------------------------------------------------------------


def test_a_member_of_staff_on_the_list_signs_in_and_sees_their_inbox(
    app: Flask, database: Database, provider: Provider
) -> None:
    client = app.test_client()
    response = sign_in_through(client, provider, "3f1c-om-north")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    inbox = client.get("/")
    assert inbox.status_code == 200
    page = text_of(inbox)
    assert "Signed in as <strong>Om North</strong> (Probation Officer)" in page
    assert "My tasks" in page
    assert "Change your password" not in page  # the provider keeps their password
    assert sessions(database) == [("om.north", "oidc", None)]
    actor, event, detail = audit_events(database)[-1]
    assert (actor, event) == ("om.north", "signed_in")
    assert detail["signed_in_with"] == "oidc"
    assert detail["subject"] == "3f1c-om-north"
    assert detail["issuer"] == provider.issuer


def test_the_username_may_come_in_the_id_token_itself(
    make_app: AppMaker, database: Database, provider_with_claims_in_id_token: Provider
) -> None:
    app = make_app(provider_with_claims_in_id_token)
    client = app.test_client()

    def no_userinfo(**_: Any) -> None:
        pytest.fail("the username was in the ID token: the userinfo endpoint is not needed")

    app.extensions["riskflow_oidc"].userinfo = no_userinfo

    response = sign_in_through(client, provider_with_claims_in_id_token, "3f1c-om-north")

    assert response.status_code == 302
    assert opens_case_pages(client)
    assert sessions(database) == [("om.north", "oidc", None)]


def test_the_username_is_matched_whatever_its_case(
    app: Flask, database: Database, provider: Provider
) -> None:
    client = app.test_client()
    assert sign_in_through(client, provider, "77aa-spo-north").status_code == 302
    assert sessions(database) == [("spo.north", "oidc", None)]


def test_the_page_asked_for_is_shown_after_signing_in(app: Flask, provider: Provider) -> None:
    client = app.test_client()
    to_sign_in = client.get("/cases")
    assert to_sign_in.status_code == 302
    next_page = dict(parse_qsl(urlsplit(to_sign_in.headers["Location"]).query))["next"]

    response = sign_in_through(
        client, provider, "3f1c-om-north", start=f"/sign-in/oidc?{urlencode({'next': next_page})}"
    )

    assert response.headers["Location"] == "/cases"


def test_an_email_address_at_the_areas_domain_names_the_member_of_staff(
    make_app: AppMaker, database: Database, provider: Provider
) -> None:
    app = make_app(provider, RISKFLOW_OIDC_USERNAME_CLAIM="email", RISKFLOW_OIDC_USERNAME_DOMAIN=AREA)
    client = app.test_client()
    assert sign_in_through(client, provider, "3f1c-om-north").status_code == 302
    assert sessions(database) == [("om.north", "oidc", None)]

    # The same local part at another domain is nobody on this area's staff list.
    stranger = app.test_client()
    response = sign_in_through(stranger, provider, "e5e5-elsewhere")
    assert response.status_code == 403
    page = text_of(response)
    assert "riskflow cannot tell who you are" in page
    assert f"an address at {AREA} (the email claim)" in page
    assert not opens_case_pages(stranger)
    assert sessions(database) == [("om.north", "oidc", None)]
    assert audit_events(database)[-1][:2] == (
        "om.north@elsewhere.example",
        "oidc_sign_in_refused_no_username",
    )


# --- refused --------------------------------------------------------------------------------------


def refusal_page(response: Any, identity: str) -> str:
    """The page with the parts that differ by request (the identity, the nonce) taken out."""
    page = response.get_data(as_text=True).replace(identity, "IDENTITY")
    return re.sub(r'nonce="[^"]+"', 'nonce="N"', page)


def test_an_identity_not_on_the_staff_list_is_refused_and_told_what_to_do(
    app: Flask, database: Database, provider: Provider
) -> None:
    client = app.test_client()
    response = sign_in_through(client, provider, "c4d1-stranger")

    assert response.status_code == 403
    page = text_of(response)
    assert "You cannot use riskflow yet" in page
    assert "as ida.stranger, but riskflow has no active account for you" in page
    assert "Ask your Senior Probation Officer or the area's riskflow administrator to add you" in page
    assert not opens_case_pages(client)
    assert sessions(database) == []
    actor, event, detail = audit_events(database)[-1]
    assert (actor, event) == ("ida.stranger", "oidc_sign_in_refused_unknown")
    assert detail["subject"] == "c4d1-stranger"


def test_an_inactive_member_of_staff_is_refused_with_the_same_page_as_a_stranger(
    app: Flask, database: Database, provider: Provider
) -> None:
    inactive = app.test_client()
    refused = sign_in_through(inactive, provider, "9b20-left")
    stranger = sign_in_through(app.test_client(), provider, "c4d1-stranger")

    assert refused.status_code == stranger.status_code == 403
    # Nothing tells someone that an account of that name exists but was made inactive.
    assert refusal_page(refused, "om.left") == refusal_page(stranger, "ida.stranger")
    assert not opens_case_pages(inactive)
    assert sessions(database) == []
    events = [(actor, event) for actor, event, _ in audit_events(database)]
    assert ("om.left", "oidc_sign_in_refused_inactive") in events


def test_a_tampered_state_is_refused_and_signs_nobody_in(
    app: Flask, database: Database, provider: Provider
) -> None:
    client = app.test_client()
    url = callback_url(client, provider, "3f1c-om-north")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    tampered = {**query, "state": query["state"][:-2] + ("AA" if not query["state"].endswith("AA") else "BB")}

    response = client.get(f"{parts.path}?{urlencode(tampered)}")

    assert response.status_code == 400
    assert "Your sign-in did not complete" in text_of(response)
    assert not opens_case_pages(client)
    assert sessions(database) == []
    assert audit_events(database)[-1][1] == "oidc_sign_in_failed"
    # The untouched answer still signs in: it was the state that was refused.
    assert client.get(app_path(url)).status_code == 302
    assert opens_case_pages(client)


def test_an_answer_meant_for_another_browser_is_refused(
    app: Flask, database: Database, provider: Provider
) -> None:
    """Someone's own sign-in answer, opened in a colleague's browser (to sign them in as someone else),
    holds a state that browser was never given."""
    attacker = app.test_client()
    url = callback_url(attacker, provider, "3f1c-om-north")
    victim = app.test_client()

    response = victim.get(app_path(url))

    assert response.status_code == 400
    assert not opens_case_pages(victim)
    assert sessions(database) == []


def test_an_answer_used_twice_is_refused(app: Flask, database: Database, provider: Provider) -> None:
    client = app.test_client()
    url = callback_url(client, provider, "3f1c-om-north")
    assert client.get(app_path(url)).status_code == 302
    client.post("/sign-out")

    assert client.get(app_path(url)).status_code == 400
    assert not opens_case_pages(client)


@pytest.mark.parametrize(
    "change",
    [
        # The ID token carries the nonce this browser was given; a different one is another sign-in's token.
        ("nonce", "A" * 50, "nonce"),
        # Without a nonce Authlib would not look at the ID token at all: riskflow then has no identity.
        ("nonce", None, "no ID token"),
        # PKCE: the provider hands out tokens only for the verifier whose challenge began the sign-in.
        ("code_verifier", "A" * 50, "invalid_grant"),
    ],
)
def test_an_answer_that_fails_its_checks_is_refused(
    app: Flask, database: Database, provider: Provider, change: tuple[str, str | None, str]
) -> None:
    kept, value, reason = change
    client = app.test_client()
    url = callback_url(client, provider, "3f1c-om-north")
    state = dict(parse_qsl(urlsplit(url).query))["state"]
    with client.session_transaction() as cookie:  # what the browser was given at the start, changed
        started = cookie[f"_state_idp_{state}"]
        if value is None:
            del started["data"][kept]
        else:
            started["data"][kept] = value
        cookie[f"_state_idp_{state}"] = started

    response = client.get(app_path(url))

    assert response.status_code == 400
    assert not opens_case_pages(client)
    assert sessions(database) == []
    _, event, detail = audit_events(database)[-1]
    assert event == "oidc_sign_in_failed"
    assert reason in detail["reason"]


def test_the_provider_saying_no_signs_nobody_in(app: Flask, database: Database, provider: Provider) -> None:
    client = app.test_client()
    response = sign_in_through(client, provider, None)

    assert response.status_code == 400
    assert "Your sign-in did not complete" in text_of(response)
    assert sessions(database) == []
    _, event, detail = audit_events(database)[-1]
    assert event == "oidc_sign_in_failed"
    assert "access_denied" in detail["reason"]


def test_a_discovery_document_for_another_issuer_is_refused(
    make_app: AppMaker, database: Database, provider: Provider
) -> None:
    """riskflow configured with one issuer name, the provider calling itself by another."""
    other_name = provider.issuer.replace("127.0.0.1", "localhost")
    app = make_app(provider, RISKFLOW_OIDC_ISSUER=other_name)

    response = app.test_client().get("/sign-in/oidc")

    assert response.status_code == 400
    _, event, detail = audit_events(database)[-1]
    assert event == "oidc_sign_in_failed"
    assert "names issuer" in detail["reason"]


def test_a_provider_that_does_not_answer_gets_a_clear_page(
    make_app: AppMaker, database: Database, provider: Provider
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(provider, RISKFLOW_OIDC_ISSUER=f"http://127.0.0.1:{port}")

    response = app.test_client().get("/sign-in/oidc")

    assert response.status_code == 502
    assert "riskflow cannot reach your organisation's account just now" in text_of(response)
    assert audit_events(database)[-1][1] == "oidc_provider_unreachable"


# --- the session ----------------------------------------------------------------------------------


def test_signing_out_ends_the_session_and_every_copy_of_its_cookie(
    app: Flask, database: Database, provider: Provider
) -> None:
    owner = app.test_client()
    assert sign_in_through(owner, provider, "3f1c-om-north").status_code == 302
    cookie = owner.get_cookie(COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value)
    assert opens_case_pages(thief)

    owner.post("/sign-out")

    assert not opens_case_pages(thief)
    assert not opens_case_pages(owner)
    assert sessions(database) == [("om.north", "oidc", "signed_out")]


def test_the_temporary_password_rules_do_not_hold_someone_signed_in_through_the_provider(
    app: Flask, database: Database, provider: Provider
) -> None:
    with database.transaction() as session:
        set_password(session, "om.north", "a temporary one for om", must_change=True)
    client = app.test_client()
    assert sign_in_through(client, provider, "3f1c-om-north").status_code == 302

    assert opens_case_pages(client)  # not sent to change a password first
    page = client.get("/account/password")
    assert page.status_code == 404
    assert "Your password is kept by your organisation" in text_of(page)


# --- the sign-in page, and password sign-in turned off ---------------------------------------------


def test_the_sign_in_page_offers_the_provider_and_the_password_form(
    make_app: AppMaker, database: Database, provider: Provider
) -> None:
    app = make_app(provider, RISKFLOW_OIDC_LABEL="Cumbria Probation")
    page = text_of(app.test_client().get("/sign-in"))

    assert 'href="/sign-in/oidc"' in page
    assert "Sign in with Cumbria Probation" in page
    assert 'name="password"' in page


def test_without_a_provider_there_is_no_button_and_no_route(database: Database, clock: ManualClock) -> None:
    app = web_app(database, clock)
    client = app.test_client()

    assert "/sign-in/oidc" not in client.get("/sign-in").get_data(as_text=True)
    assert client.get("/sign-in/oidc").status_code == 404
    riskflow(app).db.dispose()


def test_with_password_sign_in_off_the_form_is_gone_and_a_password_is_refused(
    make_app: AppMaker, database: Database, provider: Provider
) -> None:
    app = make_app(provider, RISKFLOW_LOCAL_SIGN_IN="false")
    client = app.test_client()

    page = text_of(client.get("/sign-in"))
    assert 'name="password"' not in page
    assert 'href="/sign-in/oidc"' in page

    response = sign_in(client, "om.north", PASSWORD)  # the right password
    assert response.status_code == 403
    assert "Signing in with a password is turned off" in text_of(response)
    assert not opens_case_pages(client)
    assert sessions(database) == []
    assert audit_events(database)[-1][:2] == ("om.north", "sign_in_refused_password_sign_in_off")

    assert sign_in_through(client, provider, "3f1c-om-north").status_code == 302
    assert opens_case_pages(client)


def test_turning_password_sign_in_off_ends_the_sessions_it_began(
    make_app: AppMaker, database: Database, provider: Provider
) -> None:
    key = {"SECRET_KEY": "the same key for both deployments"}
    before = make_app(provider, **key)
    client = before.test_client()
    assert sign_in(client, "om.north").status_code == 302
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None

    after = make_app(provider, RISKFLOW_LOCAL_SIGN_IN="false", **key)
    same_browser = after.test_client()
    same_browser.set_cookie(COOKIE, cookie.value)

    assert not opens_case_pages(same_browser)
    assert sessions(database) == [("om.north", "password", "password_sign_in_off")]


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"RISKFLOW_OIDC_ISSUER": "https://idp.example"},
            "RISKFLOW_OIDC_CLIENT_ID, RISKFLOW_OIDC_CLIENT_SECRET are",
        ),
        (
            {"RISKFLOW_OIDC_USERNAME_CLAIM": "email"},
            "RISKFLOW_OIDC_USERNAME_CLAIM is set but RISKFLOW_OIDC_ISSUER is not",
        ),
        ({"RISKFLOW_LOCAL_SIGN_IN": "false"}, "nobody could sign in"),
        ({"RISKFLOW_LOCAL_SIGN_IN": "maybe"}, "RISKFLOW_LOCAL_SIGN_IN must be true or false"),
    ],
)
def test_settings_that_cannot_work_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(environ)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RISKFLOW_OIDC_ISSUER", "http://idp.example", "an https:// address"),
        ("RISKFLOW_OIDC_ISSUER", "https://idp.example/?tenant=1", "an https:// address"),
        ("RISKFLOW_OIDC_USERNAME_CLAIM", "user name", "the name of an ID token claim"),
        ("RISKFLOW_OIDC_USERNAME_DOMAIN", "not a domain", "must be a domain name"),
        ("RISKFLOW_OIDC_LABEL", "x" * 61, "at most 60 characters"),
    ],
)
def test_a_wrong_provider_setting_says_what_to_set(name: str, value: str, message: str) -> None:
    environ = {
        "RISKFLOW_OIDC_ISSUER": "https://idp.example",
        "RISKFLOW_OIDC_CLIENT_ID": "riskflow",
        "RISKFLOW_OIDC_CLIENT_SECRET": "secret",
        name: value,
    }
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(environ)


def test_the_provider_settings_are_read() -> None:
    settings = load_settings(
        {
            "RISKFLOW_OIDC_ISSUER": "https://login.example/area/",
            "RISKFLOW_OIDC_CLIENT_ID": "riskflow",
            "RISKFLOW_OIDC_CLIENT_SECRET": "secret",
            "RISKFLOW_OIDC_USERNAME_DOMAIN": "@Cumbria.Probation.Example",
            "RISKFLOW_LOCAL_SIGN_IN": "false",
        }
    )
    assert settings.oidc is not None
    assert settings.oidc.discovery_url == "https://login.example/area/.well-known/openid-configuration"
    assert settings.oidc.username_claim == "preferred_username"
    assert settings.oidc.username_domain == "cumbria.probation.example"
    assert not settings.local_sign_in
    assert load_settings({}).local_sign_in
    assert load_settings({}).oidc is None
