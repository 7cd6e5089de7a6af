"""Management oversight from allocation, the low-risk sample and escalation by level (policy 11 and
12), run on the engine as staff would meet them: what the reviewer is asked and what the register
keeps."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from conftest import START
from sqlalchemy import select
from test_process_model import Case, case, fire_at, om_engine, to_allocation, under_oversight

from casework import register
from casework.models import OversightReview, OversightSampleDraw, Staff
from casework.oversight_sample import SAMPLE_SEED, is_picked, sample_draw
from engine.clock import ManualClock, area_date
from tasks.handoffs import shown_records
from tasks.monitor import Scope, oversight_compliance
from webui.taskpage import instructions

__all__ = ["case", "om_engine"]  # fixtures

POLICY_RATE = 10  # policy 11: "10% sample" of low-risk cases of experienced and senior officers


def what_the_reviewer_reads(case: Case, element_id: str) -> str:
    """The step's instructions as its page shows them to the person doing it."""
    task = case.task(element_id)
    engine = case.engine
    with engine.db.transaction(write=False) as session:
        details = engine.element_details(
            session, case.instance().definition_id, task.process_id, task.element_id
        )
    return instructions(details, engine.task_data(task.id))


def reviews_on_the_register(case: Case) -> list[OversightReview]:
    with case.engine.db.transaction(write=False) as session:
        found = register.find_case(session, case.crn)
        return list(
            session.scalars(
                select(OversightReview)
                .where(OversightReview.case_id == found.id)
                .order_by(OversightReview.id)
            )
        )


def first_review(case: Case, rosh: str) -> None:
    case.complete(
        "first_oversight_review",
        {"review_date": case.today(), "rosh": rosh, "findings": "Induction late; OASys under way."},
    )


# ------------------------------------------------------------------- oversight from allocation


def test_the_first_oversight_review_of_a_new_case_is_due_from_allocation(
    case: Case, clock: ManualClock
) -> None:
    to_allocation(case, "HIGH")
    case.allocate("N")  # high RoSH with a newly qualified officer: every 4 weeks
    # The plan is on the register from allocation: the first review falls due 4 weeks on.
    assert case.review_due() == START + timedelta(weeks=4)
    assert case.open_elements() == ["hold_induction"]

    # Nothing is done for 4 weeks: the review opens beside the induction, still not held (its
    # standard: 5 working days from the sentence on 9 November).
    fire_at(case.engine, clock, START + timedelta(weeks=4) - timedelta(minutes=1))
    assert "first_oversight_review" not in case.open_elements()
    fire_at(case.engine, clock, START + timedelta(weeks=4))
    assert sorted(case.open_elements()) == ["first_oversight_review", "hold_induction"]
    review = case.task("first_oversight_review")
    assert (review.candidate_role, review.lane) == ("SPO", "Senior Probation Officer")
    words = what_the_reviewer_reads(case, "first_oversight_review")
    assert "4 weeks from allocation" in words
    assert "Late against the standard: Hold the induction: due " in words
    assert "(National Standard: 5 working days from sentence), not done yet" in words

    first_review(case, "HIGH")
    recorded = reviews_on_the_register(case)
    assert len(recorded) == 1 and recorded[0].on_time
    assert recorded[0].late_standards is not None
    assert [line.split(":")[0] for line in recorded[0].late_standards] == ["Hold the induction"]
    with case.engine.db.transaction(write=False) as session:
        timeline = [e.summary for e in register.timeline(session, case.crn)]
    assert any("Late against the standard: Hold the induction" in line for line in timeline)
    # The next review is due an interval after the first, and the plans still follow.
    reviewed_at = clock.now()
    assert case.review_due() == reviewed_at + timedelta(weeks=4)

    case.induct()
    case.assess("HIGH")
    case.countersign_all()
    case.write_plans()
    assert case.data()["reviews_done"] == 1
    assert case.review_due() == reviewed_at + timedelta(weeks=4)
    fire_at(case.engine, clock, reviewed_at + timedelta(weeks=4) - timedelta(minutes=1))
    assert "oversight_review" not in case.open_elements()
    fire_at(case.engine, clock, reviewed_at + timedelta(weeks=4))
    assert "oversight_review" in case.open_elements()
    # Later reviews are not asked about the standards again.
    assert "first review" not in what_the_reviewer_reads(case, "oversight_review")


def test_when_the_plans_come_first_the_first_review_is_still_due_from_allocation(
    case: Case, clock: ManualClock
) -> None:
    to_allocation(case, "HIGH")
    case.allocate("E")  # high RoSH, experienced officer: 6 weeks
    fire_at(case.engine, clock, START + timedelta(weeks=1))
    case.induct()
    fire_at(case.engine, clock, START + timedelta(weeks=5))  # after the OASys and plans' date (30 Nov)
    case.assess("HIGH")
    case.countersign_all()
    case.write_plans()
    assert "first_oversight_review" not in case.open_elements()
    assert case.review_due() == START + timedelta(weeks=6)

    fire_at(case.engine, clock, START + timedelta(weeks=6))
    words = what_the_reviewer_reads(case, "oversight_review")
    first = "This is the case's first review: Late against the standard: Complete the OASys assessment"
    assert first in words
    assert "Hold the induction" not in words.split("Late against the standard:")[1].split(".")[0]
    case.review("HIGH")
    recorded = reviews_on_the_register(case)
    assert [line.split(":")[0] for line in recorded[-1].late_standards or []] == [
        "Complete the OASys assessment",
        "Write the Risk Management Plan and Sentence Plan",
    ]
    assert case.review_due() == clock.now() + timedelta(weeks=6)


def test_an_assessment_that_changes_the_band_keeps_the_first_review_counted_from_allocation(
    case: Case, clock: ManualClock
) -> None:
    to_allocation(case, "MEDIUM")
    case.allocate("E")  # medium RoSH, experienced: at the 4-month review
    assert case.review_due() == START + timedelta(weeks=17)
    fire_at(case.engine, clock, START + timedelta(days=2))
    case.induct()
    case.assess("HIGH")  # the OASys finds high RoSH: every 6 weeks, from allocation
    case.countersign_all()
    case.write_plans()
    assert case.review_due() == START + timedelta(weeks=6)
    assert case.plan_reason() == "high RoSH or MAPPA level 2"


# ------------------------------------------------------------------------- the low-risk sample


def test_the_sample_picks_about_the_policys_share_of_low_risk_cases_the_same_ones_for_the_same_seed() -> None:
    crns = [f"X{200000 + n}" for n in range(2000)]
    period = date(2027, 3, 1)
    picks = {crn for crn in crns if is_picked(sample_draw(crn, period), POLICY_RATE)}
    # About the policy's 10%: 200 of 2,000, give or take what a fair draw gives.
    assert 160 <= len(picks) <= 240
    # The same seed picks the same cases; another seed or another period picks others.
    assert picks == {crn for crn in crns if is_picked(sample_draw(crn, period, SAMPLE_SEED), POLICY_RATE)}
    assert picks != {crn for crn in crns if is_picked(sample_draw(crn, period, "another seed"), POLICY_RATE)}
    assert picks != {crn for crn in crns if is_picked(sample_draw(crn, date(2027, 6, 28)), POLICY_RATE)}


def low_risk_case_reviewed_once(om_engine: Any, clock: ManualClock, crn: str) -> Case:
    """A low-risk case of an experienced officer, its first review (always held) done at 17 weeks."""
    case = Case(om_engine, crn)
    under_oversight(case, "LOW", "E")
    fire_at(case.engine, clock, START + timedelta(weeks=17))
    case.review("LOW")
    return case


def crn_whose_second_period(picked: bool) -> str:
    """A CRN whose second review period (17 weeks after the first review, at START + 17 weeks) the
    draw picks, or does not: found with the draw itself, so the test needs no luck."""
    second = area_date(START + timedelta(weeks=34))
    return next(
        crn
        for crn in (f"X{300000 + n}" for n in range(500))
        if is_picked(sample_draw(crn, second), POLICY_RATE) == picked
    )


def sample_draws(case: Case) -> list[OversightSampleDraw]:
    with case.engine.db.transaction(write=False) as session:
        found = register.find_case(session, case.crn)
        return list(
            session.scalars(select(OversightSampleDraw).where(OversightSampleDraw.case_id == found.id))
        )


def test_a_low_risk_case_not_picked_gets_no_review_task_that_period(
    om_engine: Any, clock: ManualClock
) -> None:
    case = low_risk_case_reviewed_once(om_engine, clock, crn_whose_second_period(picked=False))
    second = START + timedelta(weeks=34)
    assert case.review_due() == second

    fire_at(case.engine, clock, second)
    # No review task: the period is passed over and the cycle waits for the next one.
    assert "oversight_review" not in case.open_elements()
    assert case.review_due() == second + timedelta(weeks=17)
    [draw] = sample_draws(case)
    assert (draw.period, draw.rate, draw.picked) == (area_date(second), POLICY_RATE, False)
    assert draw.draw == sample_draw(case.crn, area_date(second), draw.seed)
    # The case record says why: the draw's number against the threshold.
    with case.engine.db.transaction(write=False) as session:
        timeline = [e.summary for e in register.timeline(session, case.crn)]
    words = f"Not picked in the 10% oversight sample for the review due {area_date(second):%d %B %Y}"
    [line] = [line for line in timeline if line.startswith(words)]
    assert f"draw {draw.draw / 100:.2f}, picked below 10.00" in line
    # The monitor's oversight compliance page counts the draw, not picked.
    with case.engine.db.transaction(write=False) as session:
        aco = session.scalars(select(Staff).where(Staff.username == "aco.one")).first() or Staff()
        compliance = oversight_compliance(session, Scope(aco, None), clock.now())
    assert (compliance.sample_drawn, compliance.sample_picked) == (1, 0)
    # A week later still no review; the next period is drawn in its turn.
    fire_at(case.engine, clock, second + timedelta(weeks=1))
    assert "oversight_review" not in case.open_elements()


def test_a_low_risk_case_picked_gets_its_review_and_the_draw_is_kept(
    om_engine: Any, clock: ManualClock
) -> None:
    case = low_risk_case_reviewed_once(om_engine, clock, crn_whose_second_period(picked=True))
    second = START + timedelta(weeks=34)
    fire_at(case.engine, clock, second)
    assert "oversight_review" in case.open_elements()
    [draw] = sample_draws(case)
    assert (draw.period, draw.picked) == (area_date(second), True)


# ------------------------------------------------------------------------- escalation by level


def test_a_very_high_review_done_by_the_spo_goes_to_the_aco_for_sign_off(
    case: Case, clock: ManualClock
) -> None:
    under_oversight(case, "VERY_HIGH", "E")  # very high RoSH, experienced officer: every 4 weeks
    fire_at(case.engine, clock, START + timedelta(weeks=4))
    case.complete(
        "oversight_review",
        {
            "review_date": case.today(),
            "rosh": "VERY_HIGH",
            "findings": "Victim contact weekly.",
            "case_ends": False,
        },
    )
    sign_off = case.task("sign_off_review")
    assert (sign_off.candidate_role, sign_off.lane) == ("ACO", "Assistant Chief Officer")
    # The ACO's page shows the SPO's review.
    engine = case.engine
    with engine.db.transaction(write=False) as session:
        definition_id = case.instance().definition_id
        schema = engine.form_schema(session, definition_id, "aco-sign-off.json")
        shown = shown_records(
            session,
            sign_off,
            schema,
            engine.task_data(sign_off.id),
            lambda d, f: engine.form_schema(session, d, f),
        )
    assert [r.heading for r in shown] == ["The SPO's review"]
    assert "Victim contact weekly." in [a.value for a in shown[0].answers]
    # The next review is not held up: it is due 4 weeks after the SPO's review.
    assert case.review_due() == clock.now() + timedelta(weeks=4)

    case.sign_off("Review the curfew with police.")
    [review] = reviews_on_the_register(case)
    assert review.signed_off_by == "aco.one"
    assert review.sign_off_actions == "Review the curfew with police."


def test_a_high_review_needs_no_aco_sign_off(case: Case, clock: ManualClock) -> None:
    under_oversight(case, "HIGH", "E")
    fire_at(case.engine, clock, START + timedelta(weeks=6))
    case.complete(
        "oversight_review",
        {"review_date": case.today(), "rosh": "HIGH", "findings": "On track.", "case_ends": False},
    )
    assert "sign_off_review" not in case.open_elements()
    [review] = reviews_on_the_register(case)
    assert review.signed_off_at is None
