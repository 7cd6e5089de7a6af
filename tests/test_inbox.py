"""The inbox: each grade sees its own tasks and the pool work it may claim, on cases it may see and no
others; overdue work comes first and says so in words; claim and release work as plain forms, and a
task someone else claimed a moment ago gets a clear message rather than an error page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from casework_area import om_username, small_area
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_webui import table_rows
from webui_client import PASSWORD, fast_password_hashing, give_passwords, sign_in, web_app

from casework.critical_few import keep_critical_flag
from casework.models import AccessLimitation, AccessListEntry, Case, Staff
from casework.vocabulary import AccessList, RoshLevel, Stage
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.runtime import Actor
from webui import riskflow

OM_NORTH = om_username("north", "PO", "E")
OM_SOUTH = om_username("south", "PO", "E")
DAY = timedelta(days=1)

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests


@dataclass
class Area:
    """The test area's cases and the id of each task, by a short name."""

    tasks: dict[str, int]


def add_case(
    session: Session, staff: dict[str, Staff], crn: str, name: str, *, owner: str, rosh: RoshLevel
) -> Case:
    forename, surname = name.split()
    owner_staff = staff[owner]
    case = Case(
        crn=crn,
        forename=forename,
        surname=surname,
        stage=Stage.SUPERVISED,
        rosh=rosh,
        owner=owner_staff,
        team=owner_staff.team,
        created_at=START - 30 * DAY,
    )
    session.add(case)
    session.flush()
    keep_critical_flag(session, case)  # as the register does whenever the RoSH changes
    return case


def add_task(
    session: Session,
    case: Case,
    key: str,
    title: str,
    role: str,
    *,
    due: datetime | None,
    assignee: str | None = None,
) -> int:
    """An open task on `case` (with an instance of its own); returns the task's id."""
    definition_id = session.scalar(select(ProcessDefinition.id).limit(1))
    assert definition_id is not None
    instance = ProcessInstance(
        definition_id=definition_id,
        process_id="om",
        business_key=case.crn,
        status="waiting",
        state="{}",
        started_by="test",
        created_at=START,
        updated_at=START,
    )
    session.add(instance)
    session.flush()
    row = HumanTask(
        instance_id=instance.id,
        task_guid=f"guid-{key}",
        element_id=key.split(".", maxsplit=1)[0],
        process_id="om",
        title=title,
        candidate_role=role,
        assignee=assignee,
        due_at=due,
        business_key=case.crn,
        state="open",
        created_at=START,
        priority=0,
    )
    session.add(row)
    session.flush()
    return row.id


@pytest.fixture
def area(database: Database) -> Area:
    """Two teams' cases with open tasks for several grades, and one case kept from the north admin."""
    tasks: dict[str, int] = {}
    with database.transaction() as session:
        staff = small_area(session)
        n1 = add_case(session, staff, "N100001", "Ambrose Vardy", owner=OM_NORTH, rosh=RoshLevel.HIGH)
        n2 = add_case(
            session,
            staff,
            "N100002",
            "Linnet Ullock",
            owner=om_username("north", "PSO", "E"),
            rosh=RoshLevel.LOW,
        )
        n3 = add_case(session, staff, "N100003", "Orrin Wasdell", owner=OM_NORTH, rosh=RoshLevel.MEDIUM)
        s1 = add_case(session, staff, "S100001", "Hester Yewdale", owner=OM_SOUTH, rosh=RoshLevel.MEDIUM)
        session.flush()
        limitation = AccessLimitation(case_id=n3.id, set_at=START, set_by="aco.one")
        limitation.entries.append(
            AccessListEntry(
                staff_id=staff["admin.north"].id,
                on_list=AccessList.EXCLUSION,
                added_at=START,
                added_by="aco.one",
            )
        )
        session.add(limitation)
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

        def task(
            key: str, case: Case, title: str, role: str, *, due: datetime | None, assignee: str | None = None
        ) -> None:
            tasks[key] = add_task(session, case, key, title, role, due=due, assignee=assignee)

        task("later", n1, "Review the sentence plan", "OM", due=START + 20 * DAY, assignee=OM_NORTH)
        task("overdue", n1, "Hold the induction", "OM", due=START - DAY, assignee=OM_NORTH)
        task("undated", n3, "Read the pre-sentence report", "OM", due=None, assignee=OM_NORTH)
        task("countersign", n1, "Countersign the risk plan", "SPO", due=START + 2 * DAY, assignee="spo.north")
        task("details.north", n2, "Record first details", "CASE_ADMIN", due=START + 10 * DAY)
        task("details.kept", n3, "Record court papers", "CASE_ADMIN", due=START + 5 * DAY)
        task("details.south", s1, "Record first details", "CASE_ADMIN", due=START + 10 * DAY)
        task("om.south", s1, "Hold the induction", "OM", due=START + 3 * DAY, assignee=OM_SOUTH)
        task("consult", n1, "Advise on the risk plan", "RISK_CONSULTANT", due=START + 4 * DAY)
        task("aco", s1, "Approve the transfer", "ACO", due=START + 6 * DAY)
    give_passwords(
        database,
        [
            OM_NORTH,
            OM_SOUTH,
            "spo.north",
            "admin.north",
            "admin.south",
            "risk.consultant",
            "aco.one",
            "mappa.coordinator",
        ],
    )
    return Area(tasks)


@pytest.fixture
def app(database: Database, clock: ManualClock, area: Area) -> Iterator[Flask]:
    app = web_app(database, clock)
    yield app
    riskflow(app).db.dispose()


def inbox_of(app: Flask, username: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client, client.get("/").text


def section(html: str, heading_id: str) -> list[list[str]]:
    """The rows of the table under one of the inbox's headings."""
    start = html.index(f'id="{heading_id}"')
    following = html.find('<h2 class="govuk-heading-m"', start + 1)
    return table_rows(html[start : following if following != -1 else len(html)])


def titles(rows: list[list[str]]) -> list[str]:
    return [row[0] for row in rows]


# ---------------------------------------------------------------------------------- who sees what


def test_an_offender_manager_sees_their_tasks_overdue_first_then_by_due_date(app: Flask) -> None:
    _, html = inbox_of(app, OM_NORTH)

    mine = section(html, "my-tasks")
    assert titles(mine) == ["Hold the induction", "Review the sentence plan", "Read the pre-sentence report"]
    assert mine[0][1:3] == ["Ambrose Vardy N100001", "OM North PO E"]
    assert "Overdue" in mine[0][3]
    assert mine[0][4] == "High"
    assert "No due date" in mine[2][3]
    assert section(html, "to-claim") == []
    assert "3 tasks" in html


def test_an_offender_manager_sees_nothing_of_another_teams_cases(app: Flask) -> None:
    _, html = inbox_of(app, OM_NORTH)

    assert "S100001" not in html
    assert "Hester Yewdale" not in html


def test_a_senior_probation_officer_sees_the_countersigning_due_soon(app: Flask) -> None:
    _, html = inbox_of(app, "spo.north")

    mine = section(html, "my-tasks")
    assert titles(mine) == ["Countersign the risk plan"]
    assert "Due soon" in mine[0][3]
    assert "Overdue" not in mine[0][3]


def test_a_case_administrator_may_claim_their_teams_pool_work_only(app: Flask) -> None:
    _, north = inbox_of(app, "admin.north")
    _, south = inbox_of(app, "admin.south")

    assert [(r[0], r[1]) for r in section(north, "to-claim")] == [
        ("Record first details", "Linnet Ullock N100002")
    ]
    assert [(r[0], r[1]) for r in section(south, "to-claim")] == [
        ("Record first details", "Hester Yewdale S100001")
    ]


def test_a_task_on_a_case_the_person_is_excluded_from_is_not_shown_at_all(app: Flask) -> None:
    _, html = inbox_of(app, "admin.north")

    assert "Record court papers" not in html
    assert "N100003" not in html
    assert "Orrin Wasdell" not in html


def test_area_wide_grades_see_the_pool_work_of_their_role_across_the_area(app: Flask) -> None:
    _, consultant = inbox_of(app, "risk.consultant")
    _, aco = inbox_of(app, "aco.one")
    _, mappa = inbox_of(app, "mappa.coordinator")

    assert titles(section(consultant, "to-claim")) == ["Advise on the risk plan"]
    assert titles(section(aco, "to-claim")) == ["Approve the transfer"]
    assert section(mappa, "to-claim") == [] and section(mappa, "my-tasks") == []


# ----------------------------------------------------------------------------------- claim/release


def test_claiming_moves_a_task_to_my_tasks_and_release_puts_it_back(app: Flask, area: Area) -> None:
    client, _ = inbox_of(app, "admin.north")
    task_id = area.tasks["details.north"]

    claimed = client.post(f"/tasks/{task_id}/claim", follow_redirects=True)

    assert "Task claimed" in claimed.text
    assert titles(section(claimed.text, "my-tasks")) == ["Record first details"]
    assert section(claimed.text, "to-claim") == []

    released = client.post(f"/tasks/{task_id}/release", follow_redirects=True)

    assert "Task released" in released.text
    assert section(released.text, "my-tasks") == []
    assert titles(section(released.text, "to-claim")) == ["Record first details"]


def test_a_task_claimed_by_someone_else_a_moment_ago_gets_a_clear_message(app: Flask, area: Area) -> None:
    client, html = inbox_of(app, "admin.north")
    task_id = area.tasks["details.north"]
    assert "Record first details" in html
    riskflow(app).engine.claim(task_id, Actor("spo.north", frozenset({"CASE_ADMIN"})))

    response = client.post(f"/tasks/{task_id}/claim", follow_redirects=True)

    assert response.status_code == 200
    assert "This task was claimed by SPO North a moment ago." in response.text
    assert section(response.text, "to-claim") == []


def test_a_task_on_a_case_i_may_not_see_cannot_be_claimed(app: Flask, area: Area, database: Database) -> None:
    client, _ = inbox_of(app, "admin.north")

    response = client.post(f"/tasks/{area.tasks['details.south']}/claim", follow_redirects=True)

    assert "not one you can work on" in response.text
    assert "S100001" not in response.text
    with database.transaction(write=False) as session:
        assert (
            session.scalar(select(HumanTask.claimed_by).where(HumanTask.id == area.tasks["details.south"]))
            is None
        )


def test_releasing_a_task_i_do_not_hold_says_so(app: Flask, area: Area) -> None:
    client, _ = inbox_of(app, OM_NORTH)

    response = client.post(f"/tasks/{area.tasks['overdue']}/release", follow_redirects=True)

    assert response.status_code == 200
    assert "You can only release a task you have claimed." in response.text


def test_a_senior_probation_officer_also_sees_who_holds_each_of_the_teams_tasks(app: Flask) -> None:
    _, html = inbox_of(app, "spo.north")

    team = section(html, "team-tasks")
    assert [(r[0], r[1], r[3]) for r in team] == [
        ("Hold the induction", "Ambrose Vardy N100001", "OM North PO E"),
        ("Review the sentence plan", "Ambrose Vardy N100001", "OM North PO E"),
        ("Read the pre-sentence report", "Orrin Wasdell N100003", "OM North PO E"),
    ]
    assert "Overdue" in team[0][4]


def test_only_senior_probation_officers_get_the_team_list(app: Flask) -> None:
    _, html = inbox_of(app, OM_NORTH)

    assert 'id="team-tasks"' not in html


def test_searching_by_crn_shows_only_that_cases_tasks_and_keeps_the_search_in_the_url(app: Flask) -> None:
    client, _ = inbox_of(app, OM_NORTH)

    html = client.get("/?crn=n100003").text

    assert titles(section(html, "my-tasks")) == ["Read the pre-sentence report"]
    assert 'value="N100003"' in html
    assert "Show all my tasks" in html


def test_searching_for_a_case_i_may_not_see_finds_nothing(app: Flask) -> None:
    client, _ = inbox_of(app, "admin.north")

    html = client.get("/?crn=N100003").text

    assert section(html, "my-tasks") == [] and section(html, "to-claim") == []
    assert "Record court papers" not in html


# ------------------------------------------------------------------------- order, filters, pages


def test_overdue_work_comes_first_then_the_critical_few_then_the_soonest_due(
    app: Flask, database: Database
) -> None:
    with database.transaction() as session:
        staff = {s.username: s for s in session.scalars(select(Staff))}
        critical = add_case(
            session, staff, "N100004", "Tamsin Quayle", owner=OM_NORTH, rosh=RoshLevel.VERY_HIGH
        )
        session.flush()
        add_task(
            session, critical, "plan", "Plan the risk meeting", "OM", due=START + 15 * DAY, assignee=OM_NORTH
        )
    _, html = inbox_of(app, OM_NORTH)

    mine = section(html, "my-tasks")
    assert titles(mine) == [
        "Hold the induction",  # overdue
        "Plan the risk meeting",  # the critical few (Very High RoSH), due in 15 days
        "Review the sentence plan",  # due in 20 days
        "Read the pre-sentence report",  # no due date
    ]
    assert mine[1][1] == "Tamsin Quayle N100004 Critical few"
    assert "Critical few" not in mine[2][1]


def test_filters_narrow_the_lists_and_stay_in_the_url(app: Flask) -> None:
    client, _ = inbox_of(app, OM_NORTH)

    overdue = client.get("/?due=overdue").text
    medium = client.get("/?rosh=MEDIUM").text
    step = client.get("/?step=later").text

    assert titles(section(overdue, "my-tasks")) == ["Hold the induction"]
    assert '<option value="overdue" selected>' in overdue
    assert titles(section(medium, "my-tasks")) == ["Read the pre-sentence report"]
    assert '<option value="MEDIUM" selected>' in medium
    assert titles(section(step, "my-tasks")) == ["Review the sentence plan"]
    assert "Clear filters" in step


def test_due_this_week_counts_to_the_end_of_sunday(app: Flask, clock: ManualClock) -> None:
    client, _ = inbox_of(app, "risk.consultant")  # the advice is due on Friday of this week

    assert titles(section(client.get("/?due=week").text, "to-claim")) == ["Advise on the risk plan"]
    clock.advance(7 * DAY)  # Monday of the next week: the advice is overdue, not due this week
    assert section(client.get("/?due=week").text, "to-claim") == []
    assert titles(section(client.get("/?due=overdue").text, "to-claim")) == ["Advise on the risk plan"]


def test_long_lists_come_in_pages_that_keep_the_filters(app: Flask, database: Database) -> None:
    with database.transaction() as session:
        case = session.scalars(select(Case).where(Case.crn == "N100002")).one()
        for n in range(25):
            add_task(
                session,
                case,
                f"extra.{n}",
                f"Record papers {n:02d}",
                "CASE_ADMIN",
                due=START + (11 + n) * DAY,
            )
    client, html = inbox_of(app, "admin.north")

    assert len(section(html, "to-claim")) == 20
    assert "26 tasks" in html and "Page 1 of 2" in html
    filtered = client.get("/?rosh=LOW").text
    assert 'href="/?rosh=LOW&amp;page_claim=2"' in filtered
    second = client.get("/?rosh=LOW&page_claim=2").text
    assert titles(section(second, "to-claim")) == [f"Record papers {n:02d}" for n in range(19, 25)]
    assert "Page 2 of 2" in second


# ------------------------------------------------------------------------------------------- htmx


def test_a_claim_from_htmx_returns_only_the_lists_with_the_message(app: Flask, area: Area) -> None:
    client, _ = inbox_of(app, "admin.north")

    response = client.post(
        f"/tasks/{area.tasks['details.north']}/claim",
        data={"return_to": "/?rosh=LOW"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="inbox-lists"')
    assert "<html" not in response.text
    assert "Task claimed: it is now in My tasks." in response.text
    assert titles(section(response.text, "my-tasks")) == ["Record first details"]
    assert 'name="return_to" value="/?rosh=LOW"' in response.text


def test_after_a_claim_without_javascript_the_inbox_keeps_its_filters(app: Flask, area: Area) -> None:
    client, _ = inbox_of(app, "admin.north")

    kept = client.post(f"/tasks/{area.tasks['details.north']}/claim", data={"return_to": "/?rosh=LOW"})
    elsewhere = client.post(
        f"/tasks/{area.tasks['details.north']}/release", data={"return_to": "https://x.test/"}
    )

    assert kept.headers["Location"] == "/?rosh=LOW"
    assert elsewhere.headers["Location"] == "/"


def test_htmx_requests_carry_the_csrf_token(database: Database, clock: ManualClock, area: Area) -> None:
    app = web_app(database, clock, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = client.get("/sign-in").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/sign-in", data={"username": "admin.north", "password": PASSWORD, "csrf_token": token})
    html = client.get("/").text
    header_token = html.split('hx-headers=\'{"X-CSRFToken": "')[1].split('"')[0]
    url = f"/tasks/{area.tasks['details.north']}/claim"

    refused = client.post(url, headers={"HX-Request": "true"})
    accepted = client.post(url, headers={"HX-Request": "true", "X-CSRFToken": header_token})

    assert refused.status_code == 400
    assert accepted.status_code == 200 and "Task claimed" in accepted.text
    riskflow(app).db.dispose()
