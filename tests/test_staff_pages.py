"""The staff pages as an area's ACOs use them: only they reach them; the list filters by team, grade
and whether someone has left; adding someone shows their temporary password once; a record's grade,
team, line manager, experience band and roles change with errors that say what to fix and change
nothing; a reset, signing out everywhere, and a leaver's deactivation (sessions end, every copy of
the cookie with them, and held tasks go back) and reactivation; every change audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from casework_area import om_username, small_area
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_access_lists import open_task
from webui_client import PASSWORD, fast_password_hashing, give_passwords, sign_in, web_app

from casework import register
from casework.models import Case, Staff
from casework.vocabulary import ExperienceBand, Grade, RoshLevel
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent, HumanTask
from webui import riskflow, staff
from webui.credentials import StaffCredential

__all__ = ["fast_password_hashing"]

CRN = "X100001"
OWNER = om_username("north", "PO", "E")
COLLEAGUE = om_username("north", "PSO", "E")
COOKIE = "riskflow_session"
NEW_STARTER = {
    "username": "tamsin.rook",
    "display_name": "Tamsin Rook",
    "grade": "PO",
    "team": "NORTH",
    "line_manager": "spo.north",
    "qualified_on-day": "14",
    "qualified_on-month": "7",
    "qualified_on-year": "2026",
    "started-day": "1",
    "started-month": "12",
    "started-year": "2026",
}


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    with database.transaction() as session:
        small_area(session)
        session.scalars(select(Staff).where(Staff.username == "spo.south")).one().extra_roles = [
            "PROCESS_OWNER"
        ]
        register.identify_case(session, CRN, at=START, by="admin.north")
        register.record_rosh(session, CRN, RoshLevel.MEDIUM, at=START, by="court.po", source="PSR")
        register.assign_owner(session, CRN, OWNER, at=START, by="spo.north")
    give_passwords(database, ["aco.one", "spo.north", "spo.south", OWNER])
    app = web_app(database, clock)
    yield app
    riskflow(app).db.dispose()


def signed_in(app: Flask, username: str = "aco.one", password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username, password).status_code == 302
    return client


def person(database: Database, username: str) -> Staff | None:
    with database.transaction(write=False) as session:
        found = session.scalar(select(Staff).where(Staff.username == username))
        if found is not None:
            found.team_code = found.team.code if found.team else None  # type: ignore[attr-defined]
            found.manager = found.line_manager.username if found.line_manager else None  # type: ignore[attr-defined]
            session.expunge(found)
        return found


def audited(database: Database, event: str) -> list[AuditEvent]:
    with database.transaction(write=False) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


def opens_the_inbox(client: FlaskClient) -> bool:
    return client.get("/").status_code == 200


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value)
    return thief


def table_names(page: str) -> list[str]:
    return re.findall(
        r'<th scope="row" class="govuk-table__header"><a class="govuk-link" href="[^"]+">([^<]+)</a>', page
    )


def temporary_password(page: str) -> str:
    found = re.search(r'id="temporary-password">([^<]+)<', page)
    assert found is not None, "the page shows the temporary password"
    return found.group(1)


def error_summary(page: str) -> str:
    assert "There is a problem" in page
    return page


# ------------------------------------------------------------------------------------ who may


@pytest.mark.parametrize("username", ["spo.north", "spo.south", OWNER])
def test_only_an_aco_reaches_the_staff_pages_not_an_spo_a_process_owner_or_an_officer(
    app: Flask, database: Database, username: str
) -> None:
    client = signed_in(app, username)
    for path in ("/staff", "/staff/new", f"/staff/{COLLEAGUE}", f"/staff/{COLLEAGUE}/deactivate"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "The staff pages are for Assistant Chief Officers" in refused.text
    assert client.post(f"/staff/{COLLEAGUE}/deactivate").status_code == 403
    assert client.post("/staff/new", data=NEW_STARTER).status_code == 403
    assert client.post(f"/staff/{COLLEAGUE}/reset-password").status_code == 403
    staff_member = person(database, COLLEAGUE)
    assert staff_member is not None and staff_member.active
    assert person(database, "tamsin.rook") is None
    assert audited(database, "password_reset") == []
    assert 'href="/staff"' not in client.get("/").text  # no link to a page they cannot use


def test_an_aco_has_the_staff_link_and_a_signed_out_visitor_is_sent_to_sign_in(app: Flask) -> None:
    assert 'href="/staff"' in signed_in(app).get("/").text
    assert app.test_client().get("/staff").status_code == 302


# ---------------------------------------------------------------------------------------- the list


def test_the_list_filters_by_team_grade_and_status_in_name_order(app: Flask, database: Database) -> None:
    client = signed_in(app)
    everyone = table_names(client.get("/staff").text)
    assert everyone == sorted(everyone) and "Morwenna Tallis" in everyone and len(everyone) == 21

    north = table_names(client.get("/staff?team=NORTH").text)
    assert "SPO North" in north and "SPO South" not in north and "Morwenna Tallis" not in north
    assert table_names(client.get("/staff?grade=SPO").text) == ["SPO North", "SPO South"]

    assert client.post(f"/staff/{COLLEAGUE}/deactivate").status_code == 302
    assert table_names(client.get("/staff?status=left").text) == ["OM North PSO E"]
    assert "OM North PSO E" not in table_names(client.get("/staff").text)
    assert len(table_names(client.get("/staff?status=all").text)) == 21


def test_a_long_list_comes_in_pages_that_keep_the_filters(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staff, "PAGE_SIZE", 4)
    client = signed_in(app)
    first = client.get("/staff?team=NORTH").text
    second = client.get("/staff?team=NORTH&page=2").text
    assert "9 members of staff, page 1 of 3" in first
    assert 'href="/staff?team=NORTH&amp;page=2"' in first
    assert set(table_names(first)).isdisjoint(table_names(second)) and len(table_names(second)) == 4
    assert client.get("/staff?page=nonsense").status_code == 200


# -------------------------------------------------------------------------------------- add someone


def test_adding_someone_shows_their_temporary_password_once_and_they_must_change_it(
    app: Flask, database: Database
) -> None:
    client = signed_in(app)
    assert client.get("/staff/new").status_code == 200

    added = client.post("/staff/new", data=NEW_STARTER)

    assert added.status_code == 200
    assert "Tamsin Rook added" in added.text and "This is the only time the password is shown" in added.text
    password = temporary_password(added.text)
    assert added.headers["Cache-Control"] == "no-store"
    new_starter = person(database, "tamsin.rook")
    assert new_starter is not None and new_starter.active and new_starter.grade is Grade.PO
    assert new_starter.experience is ExperienceBand.NEWLY_QUALIFIED
    assert new_starter.team_code == "NORTH" and new_starter.manager == "spo.north"  # type: ignore[attr-defined]
    assert new_starter.started_on == date(2026, 12, 1)
    assert password not in client.get("/staff/tamsin.rook").text  # shown once only
    assert [e.actor for e in audited(database, "staff_added")] == ["aco.one"]
    assert [e.actor for e in audited(database, "password_reset")] == ["aco.one"]

    newcomer = app.test_client()
    assert sign_in(newcomer, "tamsin.rook", password).status_code == 302
    assert newcomer.get("/").headers["Location"].endswith("/account/password")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"qualified_on-day": ""}, "The qualification date must be a real date"),
        (
            {"qualified_on-day": "", "qualified_on-month": "", "qualified_on-year": ""},
            "Enter the date they qualified as a probation officer",
        ),
        ({"qualified_on-year": "2027"}, "The qualification date cannot be in the future"),
        (
            {"grade": "SPO"},
            "Leave the qualification date empty: only probation officers and senior practitioners",
        ),
        ({"line_manager": COLLEAGUE}, "cannot be a line manager: choose an active Senior Probation Officer"),
        (
            {"team": "EAST"},
            "There is no team with code &#39;EAST&#39;: choose one of the teams (NORTH, SOUTH)",
        ),
        ({"username": "Tamsin Rook"}, "is not a username: use 2 to 100 lower-case letters"),
        ({"username": OWNER}, "There is already a member of staff with username"),
        ({"display_name": "  "}, "Enter the person&#39;s name as staff know it"),
        ({"grade": ""}, "Choose the person&#39;s grade"),
        ({"started-month": "13"}, "The start date must be a real date, like 1 4 2026"),
    ],
)
def test_adding_with_bad_input_says_what_to_fix_and_adds_nobody(
    app: Flask, database: Database, changes: dict[str, str], message: str
) -> None:
    refused = signed_in(app).post("/staff/new", data={**NEW_STARTER, **changes})

    assert refused.status_code == 400
    assert message in error_summary(refused.text)
    if "display_name" not in changes:
        assert 'value="Tamsin Rook"' in refused.text  # what was typed is kept
    assert person(database, "tamsin.rook") is None
    assert audited(database, "staff_added") == [] and audited(database, "password_reset") == []


def test_every_problem_is_listed_at_once(app: Flask) -> None:
    refused = signed_in(app).post("/staff/new", data={**NEW_STARTER, "team": "EAST", "qualified_on-year": ""})
    assert (
        "There is no team with code" in refused.text
        and "qualification date must be a real date" in refused.text
    )


# ---------------------------------------------------------------------------------- change a record


def test_a_record_changes_and_each_change_is_audited(app: Flask, database: Database) -> None:
    client = signed_in(app)
    form = client.get(f"/staff/{COLLEAGUE}/edit").text
    assert '<option value="spo.north" selected>' in form

    changed = client.post(
        f"/staff/{COLLEAGUE}/edit",
        data={
            "grade": "SENIOR_PRACTITIONER",
            "team": "SOUTH",
            "line_manager": "spo.south",
            **date_fields("qualified_on", date(2015, 9, 1)),
            **date_fields("senior_practitioner_since", date(2024, 4, 1)),
            "extra_roles": ["PROCESS_OWNER"],
        },
    )

    assert changed.status_code == 302
    record = client.get(changed.headers["Location"]).text
    assert "The record has been changed." in record
    assert "Senior Practitioner" in record and "South Case Management (SOUTH)" in record
    assert "Process Owner" in record
    moved = person(database, COLLEAGUE)
    assert moved is not None and moved.grade is Grade.SENIOR_PRACTITIONER
    assert moved.experience is ExperienceBand.SENIOR and moved.extra_roles == ["PROCESS_OWNER"]
    assert moved.team_code == "SOUTH" and moved.manager == "spo.south"  # type: ignore[attr-defined]
    (event,) = audited(database, "staff_changed")
    assert event.actor == "aco.one" and event.detail is not None
    assert event.detail["changes"]["team"] == {"before": "NORTH", "after": "SOUTH"}
    assert event.detail["changes"]["experience"] == {"before": "E", "after": "S"}
    assert event.detail["changes"]["qualified_on"] == {"before": None, "after": "2015-09-01"}
    assert [e.actor for e in audited(database, "staff_roles_set")] == ["aco.one"]


def date_fields(name: str, day: date) -> dict[str, str]:
    return {f"{name}-day": str(day.day), f"{name}-month": str(day.month), f"{name}-year": str(day.year)}


def edit(client: FlaskClient, username: str, **changes: Any) -> Any:
    data = {"grade": "PSO", "team": "NORTH", "line_manager": "spo.north", **changes}
    return client.post(f"/staff/{username}/edit", data=data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grade": "PO"}, "Enter the date they qualified as a probation officer"),
        (
            {"grade": "SENIOR_PRACTITIONER", **date_fields("qualified_on", date(2020, 1, 6))},
            "Enter the date their senior-practitioner post began",
        ),
        ({"qualified_on-month": "13"}, "The qualification date must be a real date"),
        ({**date_fields("qualified_on", date(2020, 1, 6))}, "Leave the qualification date empty"),
        ({"team": "EAST"}, "There is no team with code"),
        ({"line_manager": OWNER}, "cannot be a line manager"),
        ({"line_manager": "no.body"}, "cannot be a line manager"),
        ({"grade": "CHIEF"}, "is not a grade: use one of PO"),
        ({"extra_roles": ["KING"]}, "KING is not a role"),
    ],
)
def test_changing_a_record_with_bad_input_says_what_to_fix_and_changes_nothing(
    app: Flask, database: Database, changes: dict[str, Any], message: str
) -> None:
    refused = edit(signed_in(app), COLLEAGUE, **{"team": "SOUTH", **changes})

    assert refused.status_code == 400
    assert message in error_summary(refused.text)
    unchanged = person(database, COLLEAGUE)
    assert unchanged is not None and unchanged.team_code == "NORTH"  # type: ignore[attr-defined]
    assert audited(database, "staff_changed") == [] and audited(database, "staff_roles_set") == []


def test_an_inactive_spo_cannot_be_a_line_manager(app: Flask, database: Database) -> None:
    client = signed_in(app)
    assert client.post("/staff/spo.south/deactivate").status_code == 302
    assert "spo.south" not in client.get(f"/staff/{COLLEAGUE}/edit").text
    assert "cannot be a line manager" in edit(client, COLLEAGUE, line_manager="spo.south").text


def test_an_aco_cannot_take_away_their_own_staff_administration_nor_deactivate_themselves(
    app: Flask, database: Database
) -> None:
    client = signed_in(app)
    refused = client.post("/staff/aco.one/edit", data={"grade": "SPO", "team": "", "line_manager": ""})
    assert refused.status_code == 400
    assert "You cannot take away your own staff administration" in error_summary(refused.text)
    # Keeping the role as an extra one is allowed: they still administer staff.
    kept = client.post("/staff/aco.one/edit", data={"grade": "SPO", "extra_roles": ["ACO"]})
    assert kept.status_code == 302
    assert client.get("/staff").status_code == 200

    assert "You cannot deactivate yourself" in client.get("/staff/aco.one").text
    refused = client.post("/staff/aco.one/deactivate")
    assert refused.status_code == 400 and "You cannot deactivate yourself" in refused.text
    me = person(database, "aco.one")
    assert me is not None and me.active and me.grade is Grade.SPO and me.extra_roles == ["ACO"]


# ---------------------------------------------------------------------------- passwords and sessions


def test_a_new_temporary_password_is_shown_once_and_ends_their_sessions(
    app: Flask, database: Database
) -> None:
    theirs = signed_in(app, OWNER)

    reset = signed_in(app).post(f"/staff/{OWNER}/reset-password")

    assert reset.status_code == 200 and "New temporary password" in reset.text
    password = temporary_password(reset.text)
    assert not opens_the_inbox(theirs)
    assert sign_in(app.test_client(), OWNER, PASSWORD).status_code == 401
    assert sign_in(app.test_client(), OWNER, password).status_code == 302
    with database.transaction(write=False) as session:
        credential = session.get(StaffCredential, OWNER)
        assert credential is not None and credential.must_change_password
    assert [e.actor for e in audited(database, "password_reset")] == ["aco.one"]


def test_signing_someone_out_everywhere_ends_every_copy_of_their_cookie(
    app: Flask, database: Database
) -> None:
    theirs = signed_in(app, OWNER)
    copied = copy_of(app, theirs)
    assert opens_the_inbox(copied)

    done = signed_in(app).post(f"/staff/{OWNER}/sign-out-everywhere", follow_redirects=True)

    assert "Signed out everywhere: 1 signed-in session ended." in done.text
    assert not opens_the_inbox(theirs) and not opens_the_inbox(copied)
    assert sign_in(app.test_client(), OWNER).status_code == 302  # their password still works
    (event,) = audited(database, "signed_out_everywhere")
    assert event.actor == "aco.one" and event.detail == {"username": OWNER, "sessions": 1}


# -------------------------------------------------------------------------------------- leavers


def test_deactivating_a_leaver_says_what_they_hold_ends_a_copied_session_and_returns_their_tasks(
    app: Flask, database: Database
) -> None:
    with database.transaction() as session:
        claimed = open_task(session, 1, role="OM", claimed_by=OWNER).id
        assigned = open_task(session, 2, role="OM", assignee=OWNER).id
        someone_elses = open_task(session, 3, role="OM", claimed_by=COLLEAGUE).id
    theirs = signed_in(app, OWNER)
    copied = copy_of(app, theirs)
    client = signed_in(app)

    before = client.get(f"/staff/{OWNER}/deactivate").text
    assert "1 open case</strong>" in before and "2 open tasks</strong>" in before
    assert "The 1 case they own stays theirs until an SPO reallocates it" in before
    assert "Each case asks its team's SPO to reallocate it" in before

    done = client.post(f"/staff/{OWNER}/deactivate", follow_redirects=True)

    assert "1 signed-in session ended and 2 open tasks taken back from them" in done.text
    assert "Left" in done.text and "Reactivate" in done.text
    assert not opens_the_inbox(theirs) and not opens_the_inbox(copied)
    assert sign_in(app.test_client(), OWNER).status_code == 401
    with database.transaction(write=False) as session:
        back_to_pool = session.get(HumanTask, claimed)
        to_spo = session.get(HumanTask, assigned)
        untouched = session.get(HumanTask, someone_elses)
        assert back_to_pool is not None and (back_to_pool.assignee, back_to_pool.claimed_by) == (None, None)
        assert to_spo is not None and (to_spo.assignee, to_spo.claimed_by) == ("spo.north", None)
        assert untouched is not None and untouched.claimed_by == COLLEAGUE
        case = session.scalar(select(Case).where(Case.crn == CRN))
        assert case is not None and case.owner is not None and case.owner.username == OWNER  # for the SPO
        reasons = session.scalars(select(AuditEvent.reason).where(AuditEvent.event == "task_reassigned"))
        assert list(reasons) == ["no longer active on the staff list"] * 2
    (event,) = audited(database, "staff_deactivated")
    assert event.actor == "aco.one" and event.detail == {
        "username": OWNER,
        "sessions": 1,
        "tasks_moved": 2,
        "cases_to_reallocate": 1,
    }

    back = client.post(f"/staff/{OWNER}/reactivate", follow_redirects=True)
    assert "Reactivated" in back.text
    assert sign_in(app.test_client(), OWNER).status_code == 302
    assert [e.actor for e in audited(database, "staff_reactivated")] == ["aco.one"]


def test_an_unknown_username_is_not_found(app: Flask) -> None:
    client = signed_in(app)
    assert client.get("/staff/no.body").status_code == 404
    assert client.post("/staff/no.body/deactivate").status_code == 404


def test_every_staff_form_needs_the_csrf_token(app: Flask, database: Database, clock: ManualClock) -> None:
    guarded = web_app(database, clock, WTF_CSRF_ENABLED=True)
    try:
        client = guarded.test_client()
        page = client.get("/sign-in").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        data = {"username": "aco.one", "password": PASSWORD, "csrf_token": token.group(1)}
        assert client.post("/sign-in", data=data).status_code == 302
        for path in ("/staff/new", f"/staff/{OWNER}/edit", f"/staff/{OWNER}/deactivate"):
            assert client.post(path, data=NEW_STARTER).status_code == 400, path
        for path in (f"/staff/{OWNER}/reset-password", f"/staff/{OWNER}/sign-out-everywhere"):
            assert client.post(path).status_code == 400, path
        still = person(database, OWNER)
        assert still is not None and still.active
        assert audited(database, "password_reset") == [] and person(database, "tamsin.rook") is None
        assert 'name="csrf_token"' in client.get(f"/staff/{OWNER}").text
    finally:
        riskflow(guarded).db.dispose()
