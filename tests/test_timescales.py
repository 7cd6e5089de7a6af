"""Timescales from the sentence (National Standards 2007): allocation, first contact and the sentence
plan (with the OASys assessment it needs) are due by the standard for the tier and the sentence,
counted in working days from the date of sentence, not from when the step before finished. The
standards are one decision table (`timescales.dmn`); each step names its standard (`dueByStandard`).

Each scenario drives a case on the offender management model and checks what a person sees (the
inbox, the case record, the task page, the monitor) and what the task rows hold.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from api_client import api_app
from casework_area import om_username
from flask import Flask
from flask.testing import FlaskClient
from test_process_model import BUNDLE_DIR, CRN, Case, under_oversight
from webui_client import fast_password_hashing, give_passwords, sign_in, text_of

from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.errors import DefinitionError
from webui import riskflow

__all__ = ["fast_password_hashing"]

SPO = "spo.north"
OWNER = om_username("north", "PO", "E")
SENTENCED = datetime(2026, 11, 9, 10, 0, tzinfo=UTC)  # the sentence date the Case helper gives: Mon 9 Nov


def close_of_business(day: str) -> datetime:
    """17:00 UK time on `day` (GMT in November and December: the same as UTC)."""
    return datetime.fromisoformat(f"{day}T17:00:00+00:00")


@pytest.fixture
def app(database: Database, clock: ManualClock) -> Iterator[Flask]:
    app = api_app(database, clock)
    give_passwords(database, [SPO, OWNER])
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def case(app: Flask, clock: ManualClock) -> Case:
    clock.set(SENTENCED - timedelta(days=4))  # the report is written days before the hearing
    return Case(riskflow(app).engine)


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def page(app: Flask, username: str, path: str) -> str:
    answer = signed_in(app, username).get(path)
    assert answer.status_code == 200, path
    return text_of(answer.get_data(as_text=True))


def sentenced_today(
    case: Case, clock: ManualClock, rosh: str = "LOW", outcome: str = "COMMUNITY_ORDER", **given: object
) -> None:
    """Identified at court, screened, then sentenced on 9 November (the clock stands at sentence)."""
    case.start()
    case.screen(rosh)
    clock.set(SENTENCED)
    case.sentenced(outcome, **given)
    if "allocate_owner" not in case.open_elements():
        case.hold_meeting(rosh)


# ------------------------------------------------------------------------------ the scenario


def test_a_sentence_plan_is_due_15_working_days_after_a_tier_2_community_sentence_when_allocation_was_late(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    sentenced_today(case, clock)
    # Allocation is due 3 working days after sentence (Thursday 12 November) and is done 8 days late.
    assert case.task("allocate_owner").due_at == close_of_business("2026-11-12")
    clock.set(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    case.allocate(tier=2)
    # The induction was due 5 working days after sentence: it opens already overdue.
    induction = case.task("hold_induction")
    assert induction.due_at == close_of_business("2026-11-16")
    assert induction.due_standard == "National Standard: 5 working days from sentence"
    assert "due by the National Standard: 5 working days from sentence Overdue" in page(app, OWNER, "/")
    case.induct()
    case.assess("LOW")
    case.countersign_all()
    plans = case.task("write_plans")
    # 15 working days from Monday 9 November is Monday 30 November, however late allocation was
    # (counted from the step before, the plans would be due 5 working days after the OASys).
    assert plans.due_at == close_of_business("2026-11-30")
    assert plans.due_standard == "National Standard: 15 working days from sentence"

    inbox = page(app, OWNER, "/")
    assert "Write the Risk Management Plan and Sentence Plan" in inbox
    assert "30 Nov 2026, 17:00 due by the National Standard: 15 working days from sentence" in inbox
    assert "15 working days from sentence Overdue" not in inbox

    # The day after, it shows as overdue against the standard: inbox, case record, task page, monitor.
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert "30 Nov 2026, 17:00 due by the National Standard: 15 working days from sentence Overdue" in page(
        app, OWNER, "/"
    )
    record = page(app, SPO, f"/cases/{CRN}")
    assert "30 Nov 2026, 17:00 due by the National Standard: 15 working days from sentence Overdue" in record
    task_page = page(app, OWNER, f"/tasks/{plans.id}")
    assert (
        "Due 30 Nov 2026, 17:00 due by the National Standard: 15 working days from sentence Overdue"
        in task_page
    )
    monitor = page(app, SPO, "/monitor/tasks?due=overdue")
    assert "due by the National Standard: 15 working days from sentence Overdue" in monitor
    stuck = page(app, SPO, "/monitor/stuck")
    assert "Overdue by 1 working day against the National Standard: 15 working days from sentence" in stuck


def test_a_step_the_standards_do_not_cover_keeps_its_own_time_from_when_it_opens(
    app: Flask, case: Case, clock: ManualClock
) -> None:
    sentenced_today(case, clock, rosh="HIGH")
    case.allocate(tier=3)
    case.induct()
    clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    case.assess("HIGH")
    countersign = case.task("countersign_spo")
    # The area's own 5 working days, counted from the assessment: no standard, no words.
    assert (countersign.due_at, countersign.due_standard) == (datetime(2026, 12, 2, 10, 0, tzinfo=UTC), None)
    assert "due by the" not in page(app, SPO, f"/tasks/{countersign.id}")


# --------------------------------------------------------------------- tiers and sentences


def test_a_mappa_level_2_case_is_allocated_within_1_working_day_of_sentence_as_tier_4(
    case: Case, clock: ManualClock
) -> None:
    case.start()
    case.screen("HIGH", "CAT2")
    clock.set(SENTENCED)
    case.sentenced()
    case.hold_meeting("HIGH", mappa_referral=True)
    case.set_mappa_level(2)
    allocation = case.task("allocate_owner")
    assert allocation.due_at == close_of_business("2026-11-10")
    assert allocation.due_standard == "National Standard (tier 4): 1 working day from sentence"


def test_tier_4_has_first_contact_within_2_working_days_and_the_plan_within_5(
    case: Case, clock: ManualClock
) -> None:
    sentenced_today(case, clock)
    case.allocate(tier=4)
    assert case.task("hold_induction").due_at == close_of_business("2026-11-11")
    case.induct()
    oasys = case.task("assess_oasys")
    assert (oasys.due_at, oasys.due_standard) == (
        close_of_business("2026-11-16"),
        "National Standard (tier 4): 5 working days from sentence",
    )


@pytest.mark.parametrize(
    ("months", "plan_due", "words"),
    [
        (18, "2027-01-04", "National Standard (custody): 8 weeks from sentence"),
        (48, "2027-03-01", "National Standard (custody, 2 years or more to release): 16 weeks from sentence"),
    ],
)
def test_custody_of_12_months_or_more_has_the_longer_custody_timescales(
    case: Case, clock: ManualClock, months: int, plan_due: str, words: str
) -> None:
    sentenced_today(case, clock, outcome="CUSTODY_12_MONTHS_OR_MORE", custody_months=months)
    assert case.task("allocate_owner").due_at == close_of_business("2026-11-12")
    case.allocate(tier=3)
    plan = case.task("write_custody_sentence_plan")
    assert (plan.due_at, plan.due_standard) == (close_of_business(plan_due), words)


def test_the_standard_counts_working_days_past_bank_holidays(case: Case, clock: ManualClock) -> None:
    clock.set(datetime(2026, 12, 17, 10, 0, tzinfo=UTC))
    case.start()
    case.screen("LOW")
    clock.set(datetime(2026, 12, 21, 10, 0, tzinfo=UTC))
    case.sentenced(sentence_date="2026-12-21", end_date="2027-12-20")
    # Christmas Day (Friday) and Boxing Day's substitute (Monday 28th) are not working days:
    # 22, 23, 24, 29 and 30 December are the five after Monday 21st.
    assert case.task("allocate_owner").due_at == close_of_business("2026-12-24")
    case.allocate(tier=2)
    assert case.task("hold_induction").due_at == close_of_business("2026-12-30")


def test_a_whole_case_keeps_every_standard_of_its_sentence(case: Case) -> None:
    under_oversight(case, "LOW", "E")
    standards = {
        row.element_id: row.due_standard
        for row in (
            case.task_row(e) for e in ("allocate_owner", "hold_induction", "assess_oasys", "write_plans")
        )
    }
    assert standards == {
        "allocate_owner": "National Standard: 3 working days from sentence",
        "hold_induction": "National Standard: 5 working days from sentence",
        "assess_oasys": "National Standard: 15 working days from sentence",
        "write_plans": "National Standard: 15 working days from sentence",
    }


# --------------------------------------------------------------------- the process owner's table


def _bundle_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "offender-management"
    shutil.copytree(BUNDLE_DIR, copy)
    return copy


def _refused(app: Flask, folder: Path) -> list[str]:
    with pytest.raises(DefinitionError) as refused:
        riskflow(app).engine.deploy(Bundle.from_directory(folder), actor="process.owner")
    return [p.message for p in refused.value.problems]


def test_a_step_due_by_a_standard_the_table_does_not_have_is_refused_with_what_to_fix(
    app: Flask, tmp_path: Path
) -> None:
    folder = _bundle_copy(tmp_path)
    model = folder / "offender-management.bpmn"
    model.write_text(model.read_text().replace('value="first_contact"', 'value="first_contacts"'))
    assert _refused(app, folder) == [
        "dueByStandard 'first_contacts' is not a standard the decision table 'timescales' has rows for "
        "(known: allocation, first_contact, oasys_assessment, sentence_plan): fix the name or add its "
        "rows to the table"
    ]


def test_a_table_row_whose_words_say_another_timescale_is_refused(app: Flask, tmp_path: Path) -> None:
    folder = _bundle_copy(tmp_path)
    table = folder / "timescales.dmn"
    text = table.read_text()
    table.write_text(text.replace('"15 working days"', '"10 working days"', 1))
    problems = _refused(app, folder)
    assert len(problems) == 1
    assert problems[0].startswith(
        "rule 10: the wording 'National Standard: 15 working days from sentence' does not say the "
        "timescale '10 working days': make them agree"
    )


def test_a_timescale_the_engine_cannot_count_is_refused(app: Flask, tmp_path: Path) -> None:
    folder = _bundle_copy(tmp_path)
    table = folder / "timescales.dmn"
    table.write_text(table.read_text().replace('"3 working days"', '"three days"', 1))
    assert _refused(app, folder) == [
        "rule 2, column 'timescale': 'three days' is not a timescale: write a number of working days such "
        'as "15 working days" or an ISO 8601 duration such as "P8W"'
    ]


def test_the_process_owner_shortens_a_standard_in_the_table_and_new_steps_follow_it(
    app: Flask, case: Case, clock: ManualClock, tmp_path: Path
) -> None:
    folder = _bundle_copy(tmp_path)
    table = folder / "timescales.dmn"
    # The row for tiers 1 to 3 as the grid editor writes it: timescale, counted from, wording.
    text = table.read_text()
    for cell, was, now in (
        ("timescales_rule_2_out_1", '"3 working days"', '"2 working days"'),
        ("timescales_rule_2_out_3", '"National Standard: 3 working', '"Area standard: 2 working'),
    ):
        text = text.replace(f'<outputEntry id="{cell}"><text>{was}', f'<outputEntry id="{cell}"><text>{now}')
    table.write_text(text)
    assert riskflow(app).engine.deploy(Bundle.from_directory(folder), actor="process.owner").created
    sentenced_today(case, clock)
    allocation = case.task("allocate_owner")
    assert (allocation.due_at, allocation.due_standard) == (
        close_of_business("2026-11-11"),
        "Area standard: 2 working days from sentence",
    )
