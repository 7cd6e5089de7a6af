"""The managers' monitor in a real browser: the North SPO finds an overdue task from the overview and
reassigns it with a reason; an ACO moves all of an absent officer's open tasks to a colleague; a
failed instance is retried from its page once the cause is fixed; the process diagram draws its
badges beside the table that holds the same figures. Each monitor page meets WCAG 2.2 AA (the
diagram canvas aside)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from conftest import START, bundle
from playwright.sync_api import Page, expect
from sqlalchemy import select
from test_process_model import Case

from casework.models import Case as CaseRecord
from casework.models import Staff
from casework.vocabulary import Stage
from engine.models import AuditEvent, HumanTask, ProcessInstance
from engine.runtime import Actor, InstanceStatus, ProcessEngine
from tasks.case_team import pass_case_team_on
from tasks.wiring import build_engine

from .area import (
    ACO,
    COVER,
    COVER_NAME,
    INDUCTION,
    KEPT_CASE,
    NEW_CASE,
    OM,
    OM_NAME,
    SPO,
    Person,
    allocate_another_case,
)
from .axe import assert_accessible
from .conftest import LiveServer

DAY = timedelta(days=1)
SECOND_CASE = Person("N200004", "Bryony Quarrie")
FAILING = "N200009"


def holder(live_server: LiveServer, task_id: int) -> tuple[str | None, str | None]:
    """Who a task is assigned to and who has claimed it, as the database has it."""
    with live_server.database.transaction(write=False) as session:
        task = session.get(HumanTask, task_id)
        assert task is not None
        return task.assignee, task.claimed_by


def reasons(live_server: LiveServer, event: str) -> list[str | None]:
    with live_server.database.transaction(write=False) as session:
        return list(
            session.scalars(
                select(AuditEvent.reason).where(AuditEvent.event == event).order_by(AuditEvent.id)
            )
        )


def open_monitor(sign_in: Callable[..., Page], username: str) -> Page:
    page = sign_in(username)
    page.get_by_role("link", name="Monitor").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Monitor")
    return page


def test_the_north_spo_finds_an_overdue_task_from_the_overview_and_reassigns_it(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    task_id = live_server.task_id("induction")
    live_server.clock.set(START + 30 * DAY)  # a month on: the induction is long overdue
    page = open_monitor(sign_in, SPO)
    expect(page.get_by_text("Work across North")).to_be_visible()
    person_row = page.get_by_role("row", name=OM_NAME)
    expect(person_row).to_contain_text("1 overdue")
    assert_accessible(page)

    person_row.get_by_role("link", name=OM_NAME).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Open tasks held by {OM_NAME}")
    page.get_by_role("link", name="Overdue", exact=True).click()
    task_row = page.get_by_role("row", name="Hold the induction")
    expect(task_row).to_contain_text(INDUCTION.crn)
    expect(task_row).to_contain_text("Overdue")
    task_row.get_by_role("link", name="Hold the induction").click()

    expect(page.get_by_text(INDUCTION.crn).first).to_be_visible()
    expect(page.get_by_role("row", name="Hold the induction").get_by_text("Stuck")).to_be_visible()
    current = page.locator(
        '#instance-diagram .djs-element.riskflow-step-current[data-element-id="hold_induction"]'
    )
    expect(current).to_have_count(1)  # the diagram marks the step the case waits at
    assert_accessible(page, exclude=["#instance-diagram"])
    form = page.get_by_role("group", name="Reassign “Hold the induction”")
    form.get_by_label("Give it to").select_option(COVER)
    form.get_by_role("button", name="Reassign task").click()
    expect(page.get_by_role("region", name="Important")).to_contain_text("Give a reason")
    assert holder(live_server, task_id)[0] == OM  # refused without a reason: nothing changed

    form.get_by_label("Give it to").select_option(COVER)
    form.get_by_label("Reason").fill("Owner on leave until the new year")
    form.get_by_role("button", name="Reassign task").click()
    expect(page.get_by_role("alert")).to_contain_text("Task reassigned")
    last = page.locator("#timeline ~ table tbody tr").last
    expect(last).to_contain_text("Task reassigned: Hold the induction")
    expect(last).to_contain_text("Owner on leave until the new year")
    assert holder(live_server, task_id)[0] == COVER
    assert reasons(live_server, "task_reassigned") == ["Owner on leave until the new year"]


def test_an_aco_moves_all_of_an_absent_officers_tasks_to_a_colleague(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    second = allocate_another_case(live_server.database, live_server.clock, SECOND_CASE)
    first = live_server.task_id("induction")
    assert holder(live_server, first)[0] == OM and holder(live_server, second)[0] == OM
    page = open_monitor(sign_in, ACO)
    expect(page.get_by_text("Work across the area")).to_be_visible()
    page.get_by_role("link", name="Staff and absences").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff and absences")
    assert_accessible(page)

    move = page.locator("form", has=page.get_by_role("button", name="Move the tasks"))
    move.get_by_label("Officer whose tasks move").select_option(OM)
    move.get_by_label("Give them to").select_option(COVER)
    move.get_by_role("button", name="Move the tasks").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page.get_by_role("link", name="Enter a reason")).to_be_visible()
    assert_accessible(page)  # the page with its errors
    assert holder(live_server, first)[0] == OM

    move = page.locator("form", has=page.get_by_role("button", name="Move the tasks"))
    move.get_by_label("Officer whose tasks move").select_option(OM)
    move.get_by_label("Give them to").select_option(COVER)
    move.get_by_label("Reason").fill("Long-term sick leave")
    move.get_by_role("button", name="Move the tasks").click()
    expect(page.get_by_text(f"2 open tasks of {OM_NAME} moved to {COVER_NAME}")).to_be_visible()
    assert holder(live_server, first)[0] == COVER and holder(live_server, second)[0] == COVER
    assert reasons(live_server, "task_reassigned") == ["Long-term sick leave"] * 2

    page.goto(f"/monitor/tasks?holder={COVER}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Open tasks held by {COVER_NAME}")
    expect(page.get_by_role("row", name="Hold the induction")).to_have_count(2)
    page.goto(f"/monitor/tasks?holder={OM}")
    expect(page.get_by_text("No open task matches.")).to_be_visible()


def fail_an_instance(live_server: LiveServer, engine: ProcessEngine) -> int:
    """Start the fixture 'divide' model (deployed by an engine that knows its lanes' fixture roles)
    on a North case with a divisor of 0: its script fails."""
    with live_server.database.transaction() as session:
        owner = session.scalars(select(Staff).where(Staff.username == OM)).one()
        session.add(
            CaseRecord(crn=FAILING, stage=Stage.ALLOCATED, owner=owner, team=owner.team, created_at=START)
        )
    engine.deploy(bundle("scripts"), actor="process.owner")
    result = engine.start("divide", business_key=FAILING, data={"divisor": 0})
    assert result.status == InstanceStatus.ERROR
    with live_server.database.transaction() as session:  # this engine has no on_step hook: the team
        pass_case_team_on(session, FAILING)
    return result.instance_id


def status_of(live_server: LiveServer, instance_id: int) -> str:
    with live_server.database.transaction(write=False) as session:
        row = session.get(ProcessInstance, instance_id)
        assert row is not None
        return row.status


def test_a_failed_instance_is_retried_from_its_page_once_the_cause_is_fixed(
    sign_in: Callable[..., Page], live_server: LiveServer, engine: ProcessEngine
) -> None:
    failed = fail_an_instance(live_server, engine)
    page = open_monitor(sign_in, SPO)
    error_row = page.get_by_role("row", name=FAILING)
    expect(error_row).to_contain_text("Run divide")
    expect(error_row).to_contain_text("ZeroDivisionError")
    error_row.get_by_role("link", name=FAILING).click()

    expect(page.get_by_role("heading", name="A step failed")).to_be_visible()
    expect(page.locator("#instance-error")).to_contain_text("result = 10 / divisor")
    # The fixture model has no layout to draw: the page says so, and its lists carry the steps.
    expect(page.locator("#instance-diagram")).to_contain_text("The diagram cannot be drawn")
    expect(page.locator("#step-marks")).to_contain_text("Run divide")
    assert_accessible(page, exclude=["#instance-diagram"])
    retry = page.get_by_role("group", name="Retry the failed step")
    retry.get_by_label("Reason").fill("Retry before the fix")
    retry.get_by_role("button", name="Retry the failed step").click()
    expect(page.get_by_role("region", name="Important")).to_contain_text("failed again")
    assert status_of(live_server, failed) == InstanceStatus.ERROR

    with live_server.database.transaction() as session:  # the data is corrected, as a data fix would
        row = session.get(ProcessInstance, failed)
        assert row is not None
        row.state = row.state.replace('"divisor": 0', '"divisor": 2')
    retry = page.get_by_role("group", name="Retry the failed step")
    retry.get_by_label("Reason").fill("Divisor corrected")
    retry.get_by_role("button", name="Retry the failed step").click()
    expect(page.get_by_role("alert")).to_contain_text("Failed step retried.")
    expect(page.get_by_role("heading", name="A step failed")).to_have_count(0)
    expect(page.get_by_role("row", name="Step retried: Run divide").last).to_contain_text("Divisor corrected")
    assert status_of(live_server, failed) == InstanceStatus.AWAITING_PEOPLE
    assert reasons(live_server, "step_retried")[-1] == "Divisor corrected"


def test_the_process_diagram_draws_counts_beside_the_table_that_holds_them(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    live_server.clock.set(START + 30 * DAY)
    page = open_monitor(sign_in, SPO)
    page.get_by_role("link", name="Process diagram").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Process diagram")
    expect(page.locator(".bjs-powered-by")).to_be_visible()  # the bpmn.io watermark, as its licence asks
    induction = page.get_by_role("row", name="Hold the induction")
    expect(induction.get_by_role("cell")).to_have_text(["1", "1", "0"])
    expect(page.locator(".riskflow-badge--now").first).to_be_visible()
    expect(
        page.locator('.djs-overlays[data-container-id="hold_induction"] .riskflow-badge--now')
    ).to_have_text("1")
    expect(
        page.locator('.djs-overlays[data-container-id="hold_induction"] .riskflow-badge--late')
    ).to_have_text("1 late")
    assert_accessible(page, exclude=["#monitor-diagram"])

    induction.get_by_role("link", name="Hold the induction").click()
    expect(page.get_by_role("heading", name="At “Hold the induction”: 1 instance")).to_be_visible()
    expect(page.get_by_role("row", name=INDUCTION.crn)).to_contain_text(OM_NAME)
    assert_accessible(page, exclude=["#monitor-diagram"])


def test_the_stuck_list_is_accessible_and_leads_to_the_instance(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    live_server.clock.set(START + 30 * DAY)
    page = open_monitor(sign_in, SPO)
    page.get_by_role("link", name="Stuck work").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stuck work")
    row = page.get_by_role("row", name=INDUCTION.crn)
    expect(row).to_contain_text(f"held by {OM_NAME}")
    assert_accessible(page)
    row.get_by_role("link", name=INDUCTION.crn).click()
    expect(page.get_by_role("heading", name="What it waits for")).to_be_visible()
    assert_accessible(page, exclude=["#instance-diagram"])


def test_the_stuck_list_of_an_area_with_one_late_task_and_standing_waits_shows_only_that_task(
    sign_in: Callable[..., Page], live_server: LiveServer
) -> None:
    engine = build_engine(live_server.database, live_server.clock)
    supervised = Case(engine, INDUCTION.crn)
    with live_server.database.transaction(write=False) as session:
        ids = {crn: i for crn, i in session.execute(select(ProcessInstance.business_key, ProcessInstance.id))}
    supervised.instance_id = ids[INDUCTION.crn]
    supervised.induct()  # on to supervision: the review timer and the standing waits
    supervised.assess("LOW")
    supervised.countersign_all()
    supervised.write_plans()
    engine.terminate(ids[KEPT_CASE.crn], Actor(ACO, frozenset({"ACO"})), reason="Referral withdrawn")
    standing = [name for name, _crn in supervised.waits()]
    assert len(standing) >= 5, standing  # a transfer, an arrest, the case ending, ...
    review_due = supervised.instance().next_timer_at
    assert review_due is not None and review_due - START > 20 * DAY
    live_server.clock.set(review_due - timedelta(hours=1))  # the waits are weeks old; the review not yet due
    page = open_monitor(sign_in, ACO)
    page.get_by_role("link", name="Stuck work").click()
    expect(page.get_by_role("heading", name="1 shown")).to_be_visible()
    rows = page.locator("#stuck ~ table tbody tr")
    expect(rows).to_have_count(1)  # only the new referral's first details, long past due
    expect(rows.first).to_contain_text(NEW_CASE.crn)
    expect(rows.first).to_contain_text("Record the first details")
    expect(rows.first).to_contain_text("Overdue by")
    assert_accessible(page)

    page.get_by_label("Reason").select_option("message")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("Nothing stuck matches these filters.")).to_be_visible()
    assert_accessible(page)

    page.goto(f"/monitor/instances/{supervised.instance_id}")
    waits = page.get_by_role("table", name="What it waits for").locator("tbody tr")
    expect(waits).to_have_count(len(standing) + 1)  # every standing wait, and the review timer
    expect(page.get_by_text("Stuck", exact=True)).to_have_count(0)
