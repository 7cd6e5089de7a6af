"""Management oversight from allocation, the low-risk sample and escalation by level (policy 11 and
12), run on the engine as staff would meet them: what the reviewer is asked and what the register
keeps."""

from __future__ import annotations

from datetime import timedelta

from conftest import START
from sqlalchemy import select
from test_process_model import Case, case, fire_at, om_engine, to_allocation

from casework import register
from casework.models import OversightReview
from engine.clock import ManualClock
from webui.taskpage import instructions

__all__ = ["case", "om_engine"]  # fixtures


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
