"""Someone a case's access lists newly keep out stops seeing it everywhere at once: the register list
and its search, the inbox, the monitor's lists, every CSV download, the API (a token acting for
them) and the case record, which shows them the list's message instead.

The lists are changed through tasks.access_lists as the owning team's SPO does it; each path is
looked at before the change too, so that every check can fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from api_client import call, token
from casework_area import om_username
from conftest import START, bundle
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_process_model import Case, case, om_engine
from webui_client import fast_password_hashing, give_passwords, sign_in, web_app

from casework import register
from casework.roles import Role
from casework.vocabulary import AccessList, RoshLevel
from engine.clock import ManualClock
from engine.db import Database
from engine.models import HumanTask
from engine.runtime import Actor
from tasks import access_lists
from webui import riskflow

__all__ = ["bundle", "case", "fast_password_hashing", "om_engine"]

CRN = "X100001"
OWNER = om_username("north", "PO", "E")
KEPT_OUT = "aco.one"  # a manager who sees every case of the area, so every path shows the case
SPO = "spo.north"
REASON = "Was the victim's probation officer."


@dataclass(frozen=True)
class Seen:
    """One place the case can be seen, as `KEPT_OUT` looks at it: the answer's status and text."""

    status: int
    text: str


@dataclass
class Paths:
    """What the kept-out person is shown, through the pages and through an API token of theirs."""

    browser: FlaskClient
    api: FlaskClient
    secret: str
    instance_id: int
    task_id: int  # the task in the ACOs' pool
    report_id: int  # the report the owner holds


@pytest.fixture
def app(database: Database, clock: ManualClock, case: Case) -> Iterator[Flask]:
    """The case started, allocated to its owner (who claims the report), made one of the critical
    few, and a task of it waiting in the ACOs' pool."""
    case.start()
    with database.transaction() as session:
        register.assign_owner(session, CRN, OWNER, at=START, by=SPO, reason="allocation")
        register.record_rosh(session, CRN, RoshLevel.VERY_HIGH, at=START, by=OWNER, source="OASys")
    case.engine.claim(case.task("write_psr").id, Actor(OWNER, frozenset({"OM"})))
    with database.transaction() as session:
        report = session.get(HumanTask, case.task("write_psr").id)
        assert report is not None
        session.add(
            HumanTask(
                instance_id=case.instance_id,
                task_guid="aco-review",
                element_id="aco_review",
                process_id=report.process_id,
                title="Review the case",
                candidate_role=Role.ASSISTANT_CHIEF_OFFICER.value,
                business_key=CRN,
                state="open",
                created_at=START,
            )
        )
    give_passwords(database, [KEPT_OUT])
    app = web_app(database, clock)
    yield app
    riskflow(app).db.dispose()


@pytest.fixture
def paths(app: Flask, case: Case) -> Paths:
    """The kept-out person signed in (having read the case once, for the access log) and their token."""
    browser = app.test_client()
    assert sign_in(browser, KEPT_OUT).status_code == 302
    assert browser.get(f"/cases/{CRN}").status_code == 200
    secret = token(app, "aco", ["cases:read", "tasks:read", "instances:read"], person=KEPT_OUT)
    with riskflow(app).db.transaction(write=False) as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.task_guid == "aco-review"))
    assert task_id is not None
    return Paths(browser, app.test_client(), secret, case.instance_id, task_id, case.task("write_psr").id)


def page(path: str) -> Callable[[Paths], Seen]:
    def look(p: Paths) -> Seen:
        answer = p.browser.get(path.format(instance=p.instance_id, task=p.task_id, report=p.report_id))
        return Seen(answer.status_code, answer.text)

    return look


def api(path: str) -> Callable[[Paths], Seen]:
    def look(p: Paths) -> Seen:
        answer = call(
            p.api, "GET", path.format(instance=p.instance_id, task=p.task_id, report=p.report_id), p.secret
        )
        return Seen(answer.status_code, answer.get_data(as_text=True))

    return look


# Each place the case shows, and how it shows there: (status, something only the case gives).
LISTS = {
    "register list": page("/cases"),
    "register search": page("/cases?q=Testbrook"),
    "inbox, to claim": page("/?list=claim"),
    "monitor overview (critical few)": page("/monitor/"),
    "monitor tasks": page("/monitor/tasks"),
    "monitor step list": page("/monitor/diagram?step=write_psr"),
    "monitor critical few CSV": page("/monitor/?format=csv&list=critical"),
    "monitor tasks CSV": page("/monitor/tasks?format=csv"),
    "monitor step CSV": page("/monitor/diagram?step=write_psr&format=csv"),
    "access log CSV of the person's reads": page(f"/monitor/access-log?person={KEPT_OUT}&format=csv"),
    "API case list": api("/cases"),
    "API task lists": api("/tasks"),
    "API instance list": api("/instances"),
}
# Each read of the case or of its work, and something only that answer gives.
READS = {
    "monitor instance": (page("/monitor/instances/{instance}"), CRN),
    "monitor instance timeline CSV": (page("/monitor/instances/{instance}?format=csv"), "task_claimed"),
    "access log CSV of the case": (page(f"/monitor/access-log?crn={CRN}&format=csv"), KEPT_OUT),
    "task page": (page("/tasks/{report}"), CRN),
    "API case": (api(f"/cases/{CRN}"), CRN),
    "API task": (api("/tasks/{report}"), CRN),
    "API instance": (api("/instances/{instance}"), CRN),
}


def exclude(app: Flask) -> None:
    with riskflow(app).db.transaction() as session:
        access_lists.add_person(session, CRN, KEPT_OUT, AccessList.EXCLUSION, reason=REASON, by=SPO, at=START)


def restrict(app: Flask) -> None:
    """Start a restriction list that names someone else (and so the owner and the SPO, not the ACO)."""
    with riskflow(app).db.transaction() as session:
        access_lists.add_person(
            session, CRN, "mappa.coordinator", AccessList.RESTRICTION, reason=REASON, by=SPO, at=START
        )


KEEPING_OUT = {"excluded": exclude, "left off a restriction list": restrict}


@pytest.mark.parametrize("keep_out", KEEPING_OUT.values(), ids=KEEPING_OUT.keys())
@pytest.mark.parametrize("look", LISTS.values(), ids=LISTS.keys())
def test_an_officer_excluded_from_a_case_no_longer_sees_it_in_any_list(
    app: Flask, paths: Paths, look: Callable[[Paths], Seen], keep_out: Callable[[Flask], None]
) -> None:
    before = look(paths)
    assert before.status == 200 and CRN in before.text
    keep_out(app)
    after = look(paths)
    assert after.status == 200 and CRN not in after.text


@pytest.mark.parametrize("keep_out", KEEPING_OUT.values(), ids=KEEPING_OUT.keys())
@pytest.mark.parametrize(("look", "only_the_case_gives"), READS.values(), ids=READS.keys())
def test_an_officer_excluded_from_a_case_no_longer_sees_it_anywhere(
    app: Flask,
    paths: Paths,
    look: Callable[[Paths], Seen],
    only_the_case_gives: str,
    keep_out: Callable[[Flask], None],
) -> None:
    before = look(paths)
    assert before.status == 200 and only_the_case_gives in before.text
    keep_out(app)
    after = look(paths)
    assert after.status in {403, 404} and only_the_case_gives not in after.text


@pytest.mark.parametrize(
    ("keep_out", "message"),
    [
        (exclude, "You are excluded from viewing this offender record."),
        (restrict, "This offender record is restricted to named staff."),
    ],
    ids=KEEPING_OUT.keys(),
)
def test_the_case_record_shows_the_person_kept_out_the_lists_message(
    app: Flask, paths: Paths, keep_out: Callable[[Flask], None], message: str
) -> None:
    before = paths.browser.get(f"/cases/{CRN}")
    assert before.status_code == 200 and message not in before.text
    keep_out(app)
    after = paths.browser.get(f"/cases/{CRN}")
    assert after.status_code == 403 and message in after.text
    assert "Rowan" not in after.text  # the case's name is not given away with the message
