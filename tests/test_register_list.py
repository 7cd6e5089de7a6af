"""The register list: each person finds exactly the cases they may see (the same answer as
casework.access.may_view, for everyone in the demo area), searching never reaches beyond them,
and filters, sorting and pages work as plain links and forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from casework_area import om_username, small_area
from conftest import START
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload
from test_webui import table_rows
from webui_client import fast_password_hashing, give_passwords, sign_in, web_app

from casework import register
from casework.access import may_view
from casework.case_list import BANDS, PAGE_SIZE, RegisterFilter, critical_few, register_page, visible_to
from casework.critical_few import RiskProfile, assess
from casework.demo_area import AS_OF, generate_area
from casework.models import AccessLimitation, Case, Staff
from casework.vocabulary import MappaCategory, RoshLevel
from engine.clock import ManualClock
from engine.db import Database
from webui import riskflow

__all__ = ["fast_password_hashing"]  # autouse: cheap password hashing in these tests

OM_NORTH = om_username("north", "PO", "E")
PSO_NORTH = om_username("north", "PSO", "E")
OM_SOUTH = om_username("south", "PO", "E")
BY = "test"


# ------------------------------------------------------------------ the rule, against may_view


def awkward_cases(session: Session) -> None:
    """What the demo area lacks: limited-access cases (one excludes a colleague, one is restricted to
    two people), an officer line-managed from another team, an SPO kept off their own team's staff
    list, and someone no longer active."""
    cases = list(session.scalars(select(Case).where(Case.owner_id.is_not(None)).order_by(Case.id).limit(3)))
    spos = list(session.scalars(select(Staff).where(Staff.grade == "SPO").order_by(Staff.id)))
    owner = cases[2].owner
    assert owner is not None
    own_spo = owner.line_manager
    assert own_spo is not None
    owner.line_manager = next(spo for spo in spos if spo.team_id != owner.team_id)
    own_spo.team_id = None  # still the SPO of the owner's team, no longer on its list or managing the owner
    spos[-1].active = False
    excluded = session.scalar(select(Staff).where(Staff.team_id == cases[0].team_id, Staff.grade == "SPO"))
    assert excluded is not None
    register.limit_access(session, cases[0].crn, at=AS_OF, by=BY, excluded=[excluded.username])
    assert cases[1].owner is not None
    mappa = session.scalar(select(Staff).where(Staff.grade == "MAPPA_COORDINATOR"))
    assert mappa is not None
    register.limit_access(
        session, cases[1].crn, at=AS_OF, by=BY, restricted_to=[cases[1].owner.username, mappa.username]
    )


def test_the_list_shows_each_person_exactly_the_cases_may_view_allows(database: Database) -> None:
    with database.transaction() as session:
        generate_area(session, scale=0.05)
        awkward_cases(session)
    with database.transaction(write=False) as session:
        cases = list(
            session.scalars(
                select(Case).options(
                    selectinload(Case.owner),
                    selectinload(Case.team),
                    selectinload(Case.access_limitation).selectinload(AccessLimitation.entries),
                )
            )
        )
        everyone = list(session.scalars(select(Staff)))
        seen_any = 0
        for staff in everyone:
            in_sql = set(session.scalars(select(Case.crn).where(visible_to(session, staff))))
            in_python = {case.crn for case in cases if may_view(staff, case)}
            assert in_sql == in_python, f"{staff.username} ({staff.grade})"
            seen_any += bool(in_sql)
        assert seen_any > len(everyone) // 2  # the comparison is not vacuous


def test_the_critical_few_filter_is_the_critical_few_rule(database: Database) -> None:
    with database.transaction() as session:
        generate_area(session, scale=0.05)
    with database.transaction(write=False) as session:
        in_sql = set(session.scalars(select(Case.crn).where(critical_few())))
        in_python = {
            case.crn
            for case in session.scalars(select(Case).options(selectinload(Case.registrations)))
            if assess(RiskProfile.of(case)).critical
        }
    assert in_sql == in_python
    assert in_sql  # the demo area has critical cases


# ---------------------------------------------------------------------------- the web page


def add_case(
    session: Session,
    crn: str,
    name: str,
    *,
    owner: str | None,
    rosh: RoshLevel | None = RoshLevel.LOW,
    mappa: int | None = None,
) -> None:
    forename, surname = name.split()
    register.identify_case(session, crn, at=START, by=BY, forename=forename, surname=surname)
    if rosh is not None:
        register.record_rosh(session, crn, rosh, at=START, by=BY, source="test")
    if mappa is not None:
        register.record_mappa(session, crn, MappaCategory.CAT2, mappa, at=START, by=BY)
    if owner is not None:
        register.assign_owner(session, crn, owner, at=START + timedelta(hours=1), by=BY)


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    with database.transaction() as session:
        small_area(session)
        add_case(session, "N100001", "Ambrose Vardy", owner=OM_NORTH, rosh=RoshLevel.HIGH)
        add_case(session, "N100002", "Linnet Ullock", owner=PSO_NORTH, rosh=RoshLevel.MEDIUM)
        add_case(session, "N100003", "Orrin Vardy", owner=OM_NORTH, rosh=RoshLevel.VERY_HIGH, mappa=3)
        add_case(session, "S100001", "Hester Vardy", owner=OM_SOUTH, rosh=RoshLevel.MEDIUM)
        add_case(session, "U100001", "Tamsin Eskrigg", owner=None, rosh=None)
        register.mark_awaiting_sentence(session, "U100001", at=START, by=BY)  # its report is written
        for i in range(30):  # enough of the South PO's cases for two pages
            add_case(session, f"S2{i:05d}", f"Person Netherby{i:02d}", owner=OM_SOUTH)
    give_passwords(database, [OM_NORTH, PSO_NORTH, OM_SOUTH, "spo.north", "aco.one", "risk.consultant"])
    app = web_app(database, clock)
    yield app
    riskflow(app).db.dispose()


def client_for(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def crns(html: str) -> list[str]:
    return [row[1] for row in table_rows(html)]


def test_an_offender_manager_lists_only_their_own_cases(app: Flask) -> None:
    page = client_for(app, OM_NORTH).get("/cases")
    assert page.status_code == 200
    assert crns(page.text) == ["N100001", "N100003"]  # by surname, then forename
    assert "Linnet" not in page.text and "Hester" not in page.text


def test_an_officer_lists_a_new_case_whose_pre_sentence_report_is_still_to_write(
    app: Flask, database: Database
) -> None:
    with database.transaction() as session:
        add_case(session, "C100001", "Quillon Mardale", owner=None, rosh=None)
    assert crns(client_for(app, OM_SOUTH).get("/cases?q=Mardale").text) == ["C100001"]
    with database.transaction() as session:
        register.mark_awaiting_sentence(session, "C100001", at=START, by=BY)
    assert crns(client_for(app, OM_SOUTH).get("/cases?q=Mardale").text) == []


def test_an_spo_lists_their_teams_cases_and_the_unallocated(app: Flask) -> None:
    page = client_for(app, "spo.north").get("/cases")
    assert sorted(crns(page.text)) == ["N100001", "N100002", "N100003", "U100001"]


def test_the_risk_consultant_lists_high_and_very_high_cases_across_teams(app: Flask) -> None:
    page = client_for(app, "risk.consultant").get("/cases")
    assert sorted(crns(page.text)) == ["N100001", "N100003"]


def test_searching_by_name_finds_only_cases_the_person_may_see(app: Flask) -> None:
    north = client_for(app, OM_NORTH).get("/cases?q=vardy")
    assert crns(north.text) == ["N100001", "N100003"]  # Hester Vardy is a South case
    south = client_for(app, OM_SOUTH).get("/cases?q=VARDY")
    assert crns(south.text) == ["S100001"]
    assert "1 case" in south.text


def test_searching_by_a_crn_of_a_case_out_of_reach_finds_nothing(app: Flask) -> None:
    page = client_for(app, OM_SOUTH).get("/cases?q=N100001")
    assert crns(page.text) == []
    assert "Ambrose" not in page.text
    assert "No case you can see matches" in page.text


def test_a_crn_and_the_start_of_a_name_find_the_case(app: Flask) -> None:
    client = client_for(app, "aco.one")
    assert crns(client.get("/cases?q=n100002").text) == ["N100002"]
    assert crns(client.get("/cases?q=amb+var").text) == ["N100001"]
    assert sorted(crns(client.get("/cases?q=N10000").text)) == ["N100001", "N100002", "N100003"]


def test_the_critical_few_are_tagged_in_the_list(app: Flask) -> None:
    rows = table_rows(client_for(app, "spo.north").get("/cases").text)
    tagged = [row[1] for row in rows if "Critical few" in row[0]]
    assert tagged == ["N100003"]  # very high RoSH and MAPPA level 3; N100001 is high RoSH alone


def test_filters_narrow_the_list(app: Flask) -> None:
    client = client_for(app, "aco.one")
    assert crns(client.get("/cases?rosh=VERY_HIGH").text) == ["N100003"]
    assert crns(client.get("/cases?rosh=none").text) == ["U100001"]
    assert crns(client.get("/cases?mappa=3").text) == ["N100003"]
    assert crns(client.get("/cases?owner=unallocated").text) == ["U100001"]
    assert crns(client.get("/cases?critical=yes").text) == ["N100003"]
    assert sorted(crns(client.get("/cases?q=vardy&rosh=MEDIUM").text)) == ["S100001"]


def test_my_cases_and_a_team_members_cases(app: Flask, database: Database) -> None:
    with database.transaction(write=False) as session:
        pso = session.scalar(select(Staff.id).where(Staff.username == PSO_NORTH))
    assert crns(client_for(app, OM_NORTH).get("/cases?owner=me").text) == ["N100001", "N100003"]
    spo = client_for(app, "spo.north").get("/cases")
    assert "OM North PSO E" in spo.text  # the team's case holders are offered as owners
    assert crns(client_for(app, "spo.north").get(f"/cases?owner={pso}").text) == ["N100002"]


def test_sorting_by_a_column_both_ways(app: Flask) -> None:
    client = client_for(app, "spo.north")
    by_rosh = crns(client.get("/cases?sort=rosh&order=desc").text)
    assert by_rosh == ["N100003", "N100001", "N100002", "U100001"]  # very high first, unassessed last
    by_crn = crns(client.get("/cases?sort=crn").text)
    assert by_crn == sorted(by_crn)
    page = client.get("/cases?sort=crn").text
    assert 'aria-sort="ascending"' in page
    assert "sort=crn&amp;order=desc" in page  # the header now offers the other way


def test_a_long_list_is_paged_and_each_page_holds_the_next_cases(app: Flask) -> None:
    client = client_for(app, OM_SOUTH)
    first = client.get("/cases?sort=crn")
    assert "31 cases" in first.text and "page 1 of 2" in first.text
    assert len(crns(first.text)) == PAGE_SIZE
    second = client.get("/cases?sort=crn&page=2")
    assert len(crns(second.text)) == 31 - PAGE_SIZE
    assert not set(crns(first.text)) & set(crns(second.text))
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    beyond = client.get("/cases?sort=crn&page=9")
    assert crns(beyond.text) == crns(second.text)  # past the end: the last page


def test_a_value_the_list_cannot_use_is_named_and_left_out(app: Flask) -> None:
    page = client_for(app, OM_NORTH).get("/cases?rosh=ENORMOUS&sort=shoe+size&page=two")
    assert page.status_code == 400
    assert "There is a problem" in page.text
    assert "Choose a RoSH level from the list" in page.text
    assert "Choose a column to sort by" in page.text
    assert crns(page.text) == ["N100001", "N100003"]  # the list still shows, unfiltered


def test_closed_cases_are_left_out_unless_asked_for(app: Flask, database: Database) -> None:
    with database.transaction() as session:
        register.close_case(session, "N100001", at=START + timedelta(days=1), by=BY, reason="order completed")
    client = client_for(app, OM_NORTH)
    assert crns(client.get("/cases").text) == ["N100003"]
    assert crns(client.get("/cases?stage=CLOSED").text) == ["N100001"]
    everything = client.get("/cases?stage=all&sort=crn&order=desc")
    assert crns(everything.text) == ["N100003", "N100001"]
    assert "stage=all" in everything.text  # the sort links keep the filter


def test_the_register_query_pages_in_sql(database: Database) -> None:
    """A page is PAGE_SIZE rows fetched with LIMIT: the list never loads every case it may show."""
    with database.transaction() as session:
        staff = small_area(session)
        for i in range(PAGE_SIZE * 2 + 3):
            add_case(session, f"S3{i:05d}", f"Person Fellgate{i:02d}", owner=OM_SOUTH)
    statements: list[str] = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    with database.transaction(write=False) as session:
        aco = session.get(Staff, staff["aco.one"].id)
        assert aco is not None
        page = register_page(session, aco, RegisterFilter(page=3))
    assert page.total == PAGE_SIZE * 2 + 3 and page.pages == 3 and len(page.rows) == 3
    listing = [s for s in statements if "FROM case_record" in s and "count" not in s.lower()]
    assert listing and all(re.search(r"LIMIT", s) for s in listing)


@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_pages_through_the_same_order_as_sorting_the_whole_list(
    database: Database, descending: bool
) -> None:
    """Banded sorts (stage, RoSH, MAPPA, tier) read each band by name; paged, they give the full order."""
    with database.transaction() as session:
        generate_area(session, scale=0.05)
    with database.transaction(write=False) as session:
        aco = session.scalar(select(Staff).where(Staff.grade == "ACO").order_by(Staff.id))
        assert aco is not None
        cases = list(session.scalars(select(Case).where(Case.stage != "CLOSED")))
        for key, (column, values) in BANDS.items():

            def rank(
                case: Case, column: object = column, values: list[object] = values
            ) -> tuple[object, ...]:
                value = getattr(case, column.key)  # type: ignore[attr-defined]
                return (values.index(value), case.surname, case.forename, case.crn, case.id)

            expected = [c.crn for c in sorted(cases, key=rank, reverse=descending)]
            paged: list[str] = []
            for number in range(1, len(cases) // PAGE_SIZE + 2):
                page = register_page(
                    session, aco, RegisterFilter(sort=key, descending=descending, page=number)
                )
                paged += [row.crn for row in page.rows]
            assert paged == expected, key
