"""The case record: the people who work on a case see all of it (summary, tasks, registrations,
ownership, timeline); anyone else sees nothing of it, or only its limited-access message; a reason
is asked first where policy wants one; and every view and refusal is in the access log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from casework_area import om_username, small_area
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_webui import table_rows
from webui_client import PASSWORD, add_staff, fast_password_hashing, give_passwords, sign_in, text_of, web_app

from casework import register
from casework.access_log import CaseAccess
from casework.models import Case, Registration, Staff
from casework.vocabulary import Grade, MappaCategory, RiskGroup, RoshLevel, SentenceOutcome
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent, HumanTask, ProcessDefinition, ProcessInstance
from webui import riskflow

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests

OM_NORTH = om_username("north", "PO", "E")
OM_NORTH_SP = om_username("north", "SENIOR_PRACTITIONER", "S")
OM_SOUTH = om_username("south", "PO", "E")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
BY = "admin.north"
CRN = "N200001"


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    """One high-risk North case with a history, a limited-access case, and a South case."""
    with database.transaction() as session:
        small_area(session)
        register.identify_case(session, CRN, at=START - 60 * DAY, by=BY, forename="Ambrose", surname="Vardy")
        register.record_rosh(
            session,
            CRN,
            RoshLevel.HIGH,
            at=START - 50 * DAY,
            by=BY,
            source="OASys",
            to_whom={RiskGroup.CHILDREN: RoshLevel.HIGH, RiskGroup.PUBLIC: RoshLevel.MEDIUM},
        )
        register.record_mappa(session, CRN, MappaCategory.CAT2, 1, at=START - 50 * DAY, by=BY)
        register.record_sentence_outcome(
            session,
            CRN,
            SentenceOutcome.COMMUNITY_ORDER,
            sentence_date=(START - 45 * DAY).date(),
            at=START - 45 * DAY,
            by=BY,
        )
        register.record_tier(session, CRN, 4, at=START - 45 * DAY, by=BY)
        register.add_registration(session, CRN, "RCPR", at=START - 44 * DAY, by=BY)
        register.add_registration(session, CRN, "ALSH", at=START - 44 * DAY, by=BY)
        register.add_registration(session, CRN, "INVI", at=START - 44 * DAY, by=BY)
        register.assign_owner(
            session, CRN, OM_NORTH, at=START - 40 * DAY, by="spo.north", reason="allocation"
        )
        register.assign_owner(
            session, CRN, OM_NORTH_SP, at=START - 10 * DAY, by="spo.north", reason="complex case: moved on"
        )
        register.set_oversight_plan(
            session,
            CRN,
            interval_weeks=4,
            reviewer_grade=Grade.SPO,
            reason="high RoSH",
            at=START - 10 * DAY,
            by="spo.north",
        )
        # The child protection review fell due yesterday: overdue.
        rcpr = session.scalar(select(Registration).where(Registration.code == "RCPR"))
        assert rcpr is not None
        rcpr.next_review_on = (START - DAY).date()

        for crn, owner, name in (
            ("N200002", OM_NORTH, "Linnet Ullock"),
            ("S200001", OM_SOUTH, "Hester Yewdale"),
        ):
            forename, surname = name.split()
            register.identify_case(
                session, crn, at=START - 30 * DAY, by=BY, forename=forename, surname=surname
            )
            register.record_rosh(session, crn, RoshLevel.MEDIUM, at=START - 30 * DAY, by=BY, source="test")
            register.assign_owner(session, crn, owner, at=START - 29 * DAY, by=BY)
        register.limit_access(
            session,
            "N200002",
            at=START - 20 * DAY,
            by="aco.one",
            excluded=["admin.north"],
            exclusion_message="You are excluded from this record. Contact the ACO, Morwenna Tallis.",
        )
        add_task_history(session)
    usernames = [OM_NORTH, OM_NORTH_SP, OM_SOUTH, "spo.north", "admin.north", "aco.one", "risk.consultant"]
    give_passwords(database, usernames)
    add_staff(database, "aco.two", Grade.ACO)  # an ACO who manages neither team
    app = web_app(database, clock)
    yield app
    riskflow(app).db.dispose()


def add_task_history(session: Session) -> None:
    """A process on the case: one task done (audited), one open and claimed by the owner."""
    definition = ProcessDefinition(
        name="om",
        version=1,
        content_hash="x",
        process_ids=["om"],
        lanes={},
        specs="{}",
        deployed_at=START,
        deployed_by="test",
    )
    session.add(definition)
    session.flush()
    instance = ProcessInstance(
        definition_id=definition.id,
        process_id="om",
        business_key=CRN,
        status="waiting",
        state="{}",
        started_by="test",
        created_at=START - 45 * DAY,
        updated_at=START,
    )
    session.add(instance)
    session.flush()
    for guid, title, state, holder, due in (
        ("done", "Hold the risk meeting", "completed", "spo.north", START - 30 * DAY),
        ("open", "Review the risk management plan", "open", OM_NORTH_SP, START - DAY),
    ):
        session.add(
            HumanTask(
                instance_id=instance.id,
                task_guid=guid,
                element_id=guid,
                process_id="om",
                title=title,
                candidate_role="OM",
                claimed_by=holder,
                due_at=due,
                business_key=CRN,
                state=state,
                created_at=START - 40 * DAY,
                priority=0,
            )
        )
    session.add(
        AuditEvent(
            at=START - 2 * DAY,
            actor="spo.north",
            event="task_completed",
            instance_id=instance.id,
            business_key=CRN,
            task_guid="done",
            element_id="done",
        )
    )


def client_for(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def access_log(database: Database) -> list[tuple[str, str, str, str | None, str | None]]:
    with database.transaction(write=False) as session:
        return [
            (a.username, a.crn, a.outcome, a.justification, a.justification_text)
            for a in session.scalars(select(CaseAccess).order_by(CaseAccess.id))
        ]


def section(html: str, heading_id: str) -> str:
    """The page's text from the heading with this id to the next h2."""
    found = re.search(rf'<h2[^>]*id="{heading_id}".*?(?=<h2 |$)', html, flags=re.S)
    assert found is not None, heading_id
    return text_of(found.group(0))


# ----------------------------------------------------------------------------- what it shows


def test_the_owner_sees_the_summary_and_the_view_is_logged(app: Flask, database: Database) -> None:
    page = client_for(app, OM_NORTH_SP).get(f"/cases/{CRN}")
    assert page.status_code == 200
    summary = section(page.text, "summary")
    assert "Ambrose Vardy" in text_of(page.text)
    assert "OM North SENIOR_PRACTITIONER S (Senior Practitioner), North Case Management" in summary
    assert "RoSH High" in summary and "Children: High" in summary and "Public: Medium" in summary
    assert "Level 1, category 2" in summary and "Tier 4" in summary
    assert "Community order" in summary
    assert "Every 4 weeks by the Senior Probation Officer: high RoSH" in summary
    assert "One of the critical few: High RoSH + child protection" in summary
    assert access_log(database) == [(OM_NORTH_SP, CRN, "viewed", None, None)]


def test_the_owner_shown_is_the_current_owner_with_every_earlier_one(app: Flask) -> None:
    page = client_for(app, "spo.north").get(f"/cases/{CRN}")
    history = table_rows(section_html(page.text, "ownership"))
    assert [row[0] for row in history] == ["OM North SENIOR_PRACTITIONER S", "OM North PO E"]
    assert history[0][2] == "Current owner" and history[0][3] == "complex case: moved on"
    assert history[1][2] != "Current owner"


def section_html(html: str, heading_id: str) -> str:
    found = re.search(rf'<h2[^>]*id="{heading_id}".*?(?=<h2 |$)', html, flags=re.S)
    assert found is not None
    return found.group(0)


def test_registrations_that_make_the_case_critical_come_first_and_overdue_reviews_say_so(app: Flask) -> None:
    html = section_html(client_for(app, OM_NORTH_SP).get(f"/cases/{CRN}").text, "registrations")
    captions = re.findall(r"<caption[^>]*>(.*?)</caption>", html)
    assert captions == [
        "Registrations that make this case critical",
        "RoSH",
        "MAPPA",
        "Other registrations",
    ]
    rows = table_rows(html)
    assert rows[0][0].startswith("Child Protection (RCPR)")
    assert "Review overdue" in rows[0][3]
    others = [row[0] for row in rows[1:]]
    assert any(r.startswith("High RoSH (RHRH)") for r in others)
    assert any(r.startswith("Suicide/Self Harm (ALSH)") for r in others)
    assert all("Review overdue" not in row[3] for row in rows[1:])


def test_the_timeline_is_newest_first_with_process_steps_and_who(app: Flask) -> None:
    page = client_for(app, OM_NORTH_SP).get(f"/cases/{CRN}")
    timeline = section_html(page.text, "timeline")
    titles = [text_of(t) for t in re.findall(r'<h3 class="moj-timeline__title">(.*?)</h3>', timeline)]
    times = re.findall(r'<time datetime="([^"]+)"', timeline)
    assert times == sorted(times, reverse=True)
    assert titles[0] == "Task completed: Hold the risk meeting"
    assert (
        "Owner changed from OM North PO E to OM North SENIOR_PRACTITIONER S: complex case: moved on" in titles
    )
    assert titles[-1] == "Case identified"
    assert "by SPO North" in text_of(timeline)
    assert "(ERGN)" in timeline  # nDelius contact codes are shown


def test_open_tasks_say_who_holds_them_and_which_are_overdue(app: Flask) -> None:
    page = client_for(app, "spo.north").get(f"/cases/{CRN}")
    rows = table_rows(section_html(page.text, "tasks"))
    assert len(rows) == 1
    assert rows[0][0] == "Review the risk management plan"
    assert rows[0][1] == "OM North SENIOR_PRACTITIONER S"
    assert "Overdue" in rows[0][2]


def next_review(html: str) -> str:
    found = re.search(r'id="next-review".*?</div>', html, flags=re.S)
    assert found is not None
    return text_of(found.group(0))


def test_an_oversight_review_past_due_is_marked_overdue(app: Flask, clock: ManualClock) -> None:
    client = client_for(app, OM_NORTH_SP)
    due = next_review(client.get(f"/cases/{CRN}").text)
    assert "Overdue" not in due and "20 Nov 2026" in due  # four weeks after the plan was set
    clock.advance(30 * DAY)
    assert "Overdue" in next_review(client.get(f"/cases/{CRN}").text)


# ----------------------------------------------------------------------------- who sees it


def test_someone_with_no_need_to_know_sees_nothing_not_even_the_name(app: Flask, database: Database) -> None:
    page = client_for(app, OM_SOUTH).get(f"/cases/{CRN}")
    assert page.status_code == 404
    assert "Case not found" in page.text
    assert "Ambrose" not in page.text and "Vardy" not in page.text
    assert access_log(database) == [(OM_SOUTH, CRN, "refused", None, None)]


def test_a_crn_not_on_the_register_gets_the_same_page(app: Flask, database: Database) -> None:
    page = client_for(app, OM_SOUTH).get("/cases/Z999999")
    assert page.status_code == 404
    assert "Case not found" in page.text
    assert access_log(database) == []


def test_someone_on_the_exclusion_list_sees_its_message_and_nothing_else(
    app: Flask, database: Database
) -> None:
    page = client_for(app, "admin.north").get("/cases/N200002")
    assert page.status_code == 403
    assert "You are excluded from this record. Contact the ACO, Morwenna Tallis." in page.text
    assert "Linnet" not in page.text and "Ullock" not in page.text
    assert access_log(database)[-1][:3] == ("admin.north", "N200002", "refused")


def test_someone_off_a_restriction_list_sees_the_restriction_message(app: Flask, database: Database) -> None:
    with database.transaction() as session:
        register.limit_access(session, "S200001", at=START, by="aco.one", restricted_to=[OM_SOUTH])
    page = client_for(app, "aco.one").get("/cases/S200001")
    assert page.status_code == 403
    assert "This offender record is restricted to named staff." in page.text
    assert "Hester" not in page.text


# ---------------------------------------------------------------------------- reasons


def test_a_limited_access_case_asks_why_before_showing_anything(app: Flask, database: Database) -> None:
    client = client_for(app, OM_NORTH)
    asked = client.get("/cases/N200002")
    assert asked.status_code == 200
    assert "Why do you need to open N200002?" in asked.text
    assert "Linnet" not in asked.text
    assert access_log(database) == []  # nothing shown yet, nothing viewed

    given = client.post(
        "/cases/N200002/reason",
        data={"justification": "COVERING_ABSENCE", "details": "Covering the duty desk today"},
    )
    assert given.status_code == 302 and given.headers["Location"].endswith("/cases/N200002")
    shown = client.get("/cases/N200002")
    assert shown.status_code == 200 and "Linnet Ullock" in shown.text
    assert "Covering for an absent colleague: Covering the duty desk today" in shown.text
    assert access_log(database) == [
        (OM_NORTH, "N200002", "reason_given", "COVERING_ABSENCE", "Covering the duty desk today"),
        (OM_NORTH, "N200002", "viewed", "COVERING_ABSENCE", "Covering the duty desk today"),
    ]


def test_a_reason_without_its_details_is_refused_and_changes_nothing(app: Flask, database: Database) -> None:
    client = client_for(app, OM_NORTH)
    refused = client.post("/cases/N200002/reason", data={"justification": "NOSY", "details": "  "})
    assert refused.status_code == 400
    assert "There is a problem" in refused.text
    assert "Choose why you need to open this case" in refused.text
    assert "Say what you need the case for" in refused.text
    assert access_log(database) == []
    assert "Why do you need" in client.get("/cases/N200002").text


def test_a_reason_lasts_the_working_day_then_is_asked_again(
    app: Flask, database: Database, clock: ManualClock
) -> None:
    client = client_for(app, OM_NORTH)
    client.post(
        "/cases/N200002/reason", data={"justification": "QUALITY_ASSURANCE", "details": "Audit sample"}
    )
    clock.advance(7 * HOUR)
    assert "Linnet Ullock" in client.get("/cases/N200002").text
    clock.advance(2 * HOUR)
    assert "Why do you need to open N200002?" in client.get("/cases/N200002").text


def test_an_aco_opens_their_own_districts_cases_without_a_reason(app: Flask, database: Database) -> None:
    page = client_for(app, "aco.one").get(f"/cases/{CRN}")
    assert page.status_code == 200 and "Ambrose Vardy" in page.text
    assert access_log(database) == [("aco.one", CRN, "viewed", None, None)]


def test_an_aco_outside_the_teams_they_manage_gives_a_reason_first(app: Flask, database: Database) -> None:
    client = client_for(app, "aco.two")
    asked = client.get(f"/cases/{CRN}")
    assert "outside the teams you manage" in asked.text and "Ambrose" not in asked.text
    client.post(
        f"/cases/{CRN}/reason", data={"justification": "MANAGEMENT_OVERSIGHT", "details": "Escalated"}
    )
    assert "Ambrose Vardy" in client.get(f"/cases/{CRN}").text
    assert access_log(database)[-1] == ("aco.two", CRN, "viewed", "MANAGEMENT_OVERSIGHT", "Escalated")


def test_no_reason_can_be_recorded_for_a_case_that_needs_none_or_is_out_of_reach(
    app: Flask, database: Database
) -> None:
    client = client_for(app, OM_SOUTH)
    answer = client.post(f"/cases/{CRN}/reason", data={"justification": "COVERING_ABSENCE", "details": "x"})
    assert answer.status_code == 302
    assert client.get(f"/cases/{CRN}").status_code == 404
    assert [entry[2] for entry in access_log(database)] == ["refused"]


def test_the_register_link_is_in_the_navigation(app: Flask) -> None:
    page = client_for(app, OM_NORTH).get(f"/cases/{CRN}")
    assert re.search(r'href="/cases"[^>]*aria-current="page"', page.text)


def test_a_reason_posted_without_the_forms_token_is_refused(
    database: Database, clock: ManualClock, app: Flask
) -> None:
    guarded = web_app(database, clock, WTF_CSRF_ENABLED=True)
    client = guarded.test_client()
    form = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    client.post("/sign-in", data={"username": OM_NORTH, "password": PASSWORD, "csrf_token": token.group(1)})
    answer = client.post("/cases/N200002/reason", data={"justification": "COVERING_ABSENCE", "details": "x"})
    assert answer.status_code == 400
    assert access_log(database) == []
    riskflow(guarded).db.dispose()


def test_the_owner_shown_is_the_one_the_ownership_history_names(app: Flask, database: Database) -> None:
    """Even if the case row's owner column were left behind, the record shows the true owner."""
    with database.transaction() as session:
        case = session.scalar(select(Case).where(Case.crn == CRN))
        stale = session.scalar(select(Staff).where(Staff.username == OM_NORTH))
        assert case is not None and stale is not None
        case.owner_id = stale.id
    page = client_for(app, "spo.north").get(f"/cases/{CRN}")
    owner = re.search(r'id="owner".*?</div>', page.text, flags=re.S)
    assert owner is not None
    assert "OM North SENIOR_PRACTITIONER S (Senior Practitioner)" in text_of(owner.group(0))


# ----------------------------------------------------------------------- who may see the case


def test_the_teams_spo_excludes_an_officer_from_the_page_and_the_history_shows_it(app: Flask) -> None:
    client = client_for(app, "spo.north")
    assert "Who may see the case" in client.get(f"/cases/{CRN}").text
    answer = client.post(
        f"/cases/{CRN}/access-lists",
        data={"action": "add", "list": "exclusion", "person": "risk.consultant", "reason": "A relative"},
    )
    assert answer.status_code == 302
    page = text_of(client.get(f"/cases/{CRN}/access-lists").text)
    assert "Idris Fenwick added to the exclusion list A relative" in page
    assert client_for(app, "risk.consultant").get(f"/cases/{CRN}").status_code == 403


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"action": "add", "list": "exclusion", "person": "risk.consultant", "reason": " "}, "Say why"),
        (
            {"action": "add", "list": "exclusion", "person": "no.body", "reason": "x"},
            "Nobody with the username",
        ),
        ({"action": "add", "list": "exclusion", "person": OM_NORTH_SP, "reason": "x"}, "Transfer the case"),
        (
            {"action": "add", "list": "", "person": "risk.consultant", "reason": "x"},
            "Choose the exclusion list",
        ),
    ],
)
def test_a_refused_change_says_what_to_fix_and_changes_nothing(
    app: Flask, database: Database, form: dict[str, str], error: str
) -> None:
    client = client_for(app, "spo.north")
    answer = client.post(f"/cases/{CRN}/access-lists", data=form)
    assert answer.status_code == 400 and error in text_of(answer.text)
    assert "There is a problem" in answer.text
    with database.transaction(write=False) as session:
        assert register.access_list_history(session, register.find_case(session, CRN)) == []


def test_the_owner_cannot_open_the_access_lists_page(app: Flask) -> None:
    client = client_for(app, OM_NORTH_SP)
    assert "Who may see the case" not in client.get(f"/cases/{CRN}").text
    assert client.get(f"/cases/{CRN}/access-lists").status_code == 403
    answer = client.post(
        f"/cases/{CRN}/access-lists",
        data={"action": "add", "list": "exclusion", "person": "risk.consultant", "reason": "x"},
    )
    assert answer.status_code == 403


def test_a_list_change_posted_without_the_forms_token_is_refused(
    database: Database, clock: ManualClock, app: Flask
) -> None:
    guarded = web_app(database, clock, WTF_CSRF_ENABLED=True)
    client = guarded.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    client.post(
        "/sign-in", data={"username": "spo.north", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    answer = client.post(
        f"/cases/{CRN}/access-lists",
        data={"action": "add", "list": "exclusion", "person": "risk.consultant", "reason": "x"},
    )
    assert answer.status_code == 400
    with database.transaction(write=False) as session:
        assert register.access_list_history(session, register.find_case(session, CRN)) == []
    riskflow(guarded).db.dispose()
