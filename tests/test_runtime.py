"""The runtime core: deploy, start, human tasks, decisions, services, errors and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import CLERK, CLERK_TWO, MANAGER, START, bundle
from sqlalchemy import select

from engine.errors import Conflict, InvalidData, NotPermitted
from engine.models import ArchivedSubprocess, AuditEvent, HumanTask, ProcessDefinition, ProcessInstance
from engine.runtime import Actor, InstanceStatus, ProcessEngine


def open_tasks(engine: ProcessEngine, instance_id: int) -> list[HumanTask]:
    with engine.db.transaction(write=False) as session:
        return list(
            session.scalars(
                select(HumanTask)
                .where(HumanTask.instance_id == instance_id, HumanTask.state == "open")
                .order_by(HumanTask.id)
            )
        )


def audit_events(engine: ProcessEngine, instance_id: int) -> list[str]:
    with engine.db.transaction(write=False) as session:
        return list(
            session.scalars(
                select(AuditEvent.event).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
            )
        )


def instance_row(engine: ProcessEngine, instance_id: int) -> ProcessInstance:
    with engine.db.transaction(write=False) as session:
        row = session.get(ProcessInstance, instance_id)
        assert row is not None
        return row


def task_by_element(engine: ProcessEngine, instance_id: int, element_id: str) -> HumanTask:
    matches = [t for t in open_tasks(engine, instance_id) if t.element_id == element_id]
    assert matches, f"no open task {element_id}"
    return matches[0]


def test_same_content_deploys_as_the_same_version(engine: ProcessEngine) -> None:
    first = engine.deploy(bundle("approval"), actor="owner")
    again = engine.deploy(bundle("approval"), actor="owner")
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created, again.definition_id) == (1, False, first.definition_id)


def test_new_content_deploys_as_the_next_version(engine: ProcessEngine) -> None:
    original = bundle("approval")
    engine.deploy(original, actor="owner")
    files = dict(original.files)
    files["approval.bpmn"] = files["approval.bpmn"].replace(b"Submit the request", b"Submit your request")
    changed = type(original)(original.name, files)
    result = engine.deploy(changed, actor="owner")
    assert (result.version, result.created) == (2, True)
    with engine.db.transaction(write=False) as session:
        versions = session.scalars(
            select(ProcessDefinition.version).order_by(ProcessDefinition.version)
        ).all()
    assert versions == [1, 2]


def test_the_spec_is_stored_once_per_version_not_in_each_instance(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    first = engine.start("approval", business_key="A1")
    engine.start("approval", business_key="A2")
    state = instance_row(engine, first.instance_id).state
    assert '"spec"' not in state and "subprocess_specs" not in state
    assert len(state) < 6000


def test_a_started_instance_waits_for_its_first_task_in_the_right_lane(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    result = engine.start("approval", business_key="A1", data={"requester": "clerk.one"}, actor=CLERK)
    assert result.status == InstanceStatus.AWAITING_PEOPLE
    [task] = open_tasks(engine, result.instance_id)
    assert (task.element_id, task.lane, task.candidate_role) == ("submit", "Clerk", "CLERK")
    assert task.title == "Submit the request"
    assert task.business_key == "A1"
    assert task.priority == 2
    assert task.form_file == "submit.json"


def test_due_in_working_days_skips_the_weekend(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    result = engine.start("approval", business_key="A1")
    [task] = open_tasks(engine, result.instance_id)
    # Monday 2 Nov 09:00 + 5 working days = Monday 9 Nov 09:00.
    assert task.due_at == START + timedelta(days=7)


def test_a_large_request_goes_to_a_manager_by_the_decision_table(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    engine.complete_task(submit.id, CLERK, {"amount": 5000, "reason": "new desk"})
    approve = task_by_element(engine, started.instance_id, "approve")
    assert approve.candidate_role == "MANAGER"
    assert approve.due_at == START + timedelta(days=2)


def test_a_small_request_is_approved_by_script_and_recorded_by_the_service(
    engine: ProcessEngine, service_calls: list[dict[str, object]]
) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    result = engine.complete_task(submit.id, CLERK, {"amount": 50, "reason": "stamps"})
    assert service_calls == [{"op": "record_decision", "key": "A1", "amount": 50}]
    # The parallel gateway opened two tasks at once, one per lane.
    assert sorted(t.element_id for t in open_tasks(engine, started.instance_id)) == [
        "notify_clerk",
        "notify_manager",
    ]
    assert len(result.ready_task_ids) == 2


def test_the_parallel_join_waits_for_both_branches_then_the_call_activity_runs(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    engine.complete_task(
        task_by_element(engine, started.instance_id, "submit").id, CLERK, {"amount": 5, "reason": "pens"}
    )
    engine.complete_task(task_by_element(engine, started.instance_id, "notify_clerk").id, CLERK, {})
    assert [t.element_id for t in open_tasks(engine, started.instance_id)] == ["notify_manager"]
    engine.complete_task(task_by_element(engine, started.instance_id, "notify_manager").id, MANAGER, {})
    filing = task_by_element(engine, started.instance_id, "file_it")
    # The called process has its own lane; its task goes to that lane's role.
    assert (filing.process_id, filing.candidate_role) == ("filing", "CLERK")
    result = engine.complete_task(filing.id, CLERK, {})
    assert result.status == InstanceStatus.COMPLETED
    with engine.db.transaction(write=False) as session:
        archived = session.scalars(select(ArchivedSubprocess.process_id)).all()
    assert archived == ["filing"]


def test_completing_validates_the_form_on_the_server_and_changes_nothing(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    before = instance_row(engine, started.instance_id)
    with pytest.raises(InvalidData) as caught:
        engine.complete_task(submit.id, CLERK, {"amount": "lots", "unexpected": 1})
    fields = {e.field: e.message for e in caught.value.errors}
    assert set(fields) == {"amount", "reason", "(form)"}
    assert fields["reason"] == "Enter reason"
    after = instance_row(engine, started.instance_id)
    assert (after.version, after.state) == (before.version, before.state)
    assert task_by_element(engine, started.instance_id, "submit").state == "open"


def test_a_task_for_another_role_is_refused_as_wrong_role(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    with pytest.raises(NotPermitted) as caught:
        engine.complete_task(submit.id, MANAGER, {"amount": 5, "reason": "pens"})
    assert caught.value.code == "wrong_role"


def test_a_task_claimed_by_someone_else_is_refused_as_not_yours(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    engine.claim(submit.id, CLERK)
    with pytest.raises(NotPermitted) as caught:
        engine.complete_task(submit.id, CLERK_TWO, {"amount": 5, "reason": "pens"})
    assert caught.value.code == "not_yours"
    with pytest.raises(Conflict) as claimed:
        engine.claim(submit.id, CLERK_TWO)
    assert "clerk.one" in claimed.value.message


def test_claim_and_release_return_the_task_to_the_pool(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    engine.claim(submit.id, CLERK)
    assert task_by_element(engine, started.instance_id, "submit").claimed_by == "clerk.one"
    with pytest.raises(NotPermitted):
        engine.release(submit.id, CLERK_TWO)
    engine.release(submit.id, CLERK)
    assert task_by_element(engine, started.instance_id, "submit").claimed_by is None
    engine.claim(submit.id, CLERK_TWO)
    assert "task_claimed" in audit_events(engine, started.instance_id)
    assert "task_released" in audit_events(engine, started.instance_id)


def test_a_completed_task_cannot_be_completed_again(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    engine.complete_task(submit.id, CLERK, {"amount": 5000, "reason": "desk"})
    with pytest.raises(Conflict) as caught:
        engine.complete_task(submit.id, CLERK, {"amount": 5000, "reason": "desk"})
    assert caught.value.code == "task_not_ready"
    assert "clerk.one" in caught.value.message


def test_a_draft_is_kept_on_the_task_until_completion(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    engine.save_draft(submit.id, CLERK, {"reason": "half wri"})
    assert task_by_element(engine, started.instance_id, "submit").draft == {"reason": "half wri"}


def test_every_state_change_is_in_the_audit_trail_with_the_submitted_data(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1", actor=CLERK)
    submit = task_by_element(engine, started.instance_id, "submit")
    engine.claim(submit.id, CLERK)
    engine.complete_task(submit.id, CLERK, {"amount": 5000, "reason": "desk"})
    assert audit_events(engine, started.instance_id) == [
        "instance_started",
        "task_created",
        "task_claimed",
        "task_completed",
        "task_created",
    ]
    with engine.db.transaction(write=False) as session:
        completed = session.scalar(select(AuditEvent).where(AuditEvent.event == "task_completed"))
        assert completed is not None
        assert (completed.actor, completed.element_id) == ("clerk.one", "submit")
        assert completed.detail is not None and completed.detail["data"] == {"amount": 5000, "reason": "desk"}


def test_suspend_blocks_completion_until_resumed(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    engine.suspend(started.instance_id, MANAGER, reason="case under review")
    with pytest.raises(Conflict) as caught:
        engine.complete_task(submit.id, CLERK, {"amount": 5, "reason": "pens"})
    assert caught.value.code == "suspended"
    engine.resume(started.instance_id, MANAGER, reason="review done")
    assert instance_row(engine, started.instance_id).status == InstanceStatus.AWAITING_PEOPLE
    engine.complete_task(submit.id, CLERK, {"amount": 5, "reason": "pens"})


def test_terminate_cancels_open_tasks_and_needs_a_reason(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    with pytest.raises(Exception, match="reason"):
        engine.terminate(started.instance_id, MANAGER, reason=" ")
    engine.terminate(started.instance_id, MANAGER, reason="case closed in error")
    assert instance_row(engine, started.instance_id).status == InstanceStatus.TERMINATED
    assert open_tasks(engine, started.instance_id) == []
    with engine.db.transaction(write=False) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.event == "instance_terminated"))
        assert event is not None and event.reason == "case closed in error"


def test_a_failing_script_leaves_the_instance_in_error_with_line_and_message(engine: ProcessEngine) -> None:
    engine.deploy(bundle("scripts"), actor="owner")
    result = engine.start("divide", business_key="S1", data={"divisor": 0})
    assert result.status == InstanceStatus.ERROR
    assert result.error is not None
    assert result.error["element_id"] == "divide_script"
    assert result.error["line"] == 1
    assert "ZeroDivisionError" in result.error["message"]
    assert result.error["code_line"] == "result = 10 / divisor"
    assert open_tasks(engine, result.instance_id) == []


def test_retry_after_the_data_is_fixed_carries_on(engine: ProcessEngine) -> None:
    engine.deploy(bundle("scripts"), actor="owner")
    result = engine.start("divide", business_key="S1", data={"divisor": 0})
    healthy = engine.start("allowed_import", business_key="S2")
    with pytest.raises(Conflict):
        engine.retry(healthy.instance_id, MANAGER, reason="nothing failed")
    # Fix the data in the stored state, as a data correction would, then retry.
    with engine.db.transaction() as session:
        row = session.get(ProcessInstance, result.instance_id)
        assert row is not None
        row.state = row.state.replace('"divisor": 0', '"divisor": 2')
    retried = engine.retry(result.instance_id, MANAGER, reason="divisor corrected")
    assert retried.status == InstanceStatus.AWAITING_PEOPLE
    assert [t.element_id for t in open_tasks(engine, result.instance_id)] == ["divide_after"]
    assert "step_retried" in audit_events(engine, result.instance_id)


def test_skip_marks_the_failed_step_done_without_running_it(engine: ProcessEngine) -> None:
    engine.deploy(bundle("scripts"), actor="owner")
    result = engine.start("divide", business_key="S1", data={"divisor": 0})
    skipped = engine.skip(result.instance_id, MANAGER, reason="result not needed")
    assert skipped.status == InstanceStatus.AWAITING_PEOPLE
    assert [t.element_id for t in open_tasks(engine, result.instance_id)] == ["divide_after"]
    events = audit_events(engine, result.instance_id)
    assert events.index("instance_errored") < events.index("step_skipped")


def test_a_failing_service_is_a_model_error_and_retry_calls_it_again(
    engine: ProcessEngine, service_calls: list[dict[str, object]]
) -> None:
    engine.deploy(bundle("scripts"), actor="owner")
    result = engine.start("service_failure", business_key="S1", data={"note": "first"})
    assert result.status == InstanceStatus.ERROR
    assert result.error is not None and result.error["element_id"] == "sf_call"
    assert "flaky" in result.error["message"] and "did not answer" in result.error["message"]
    with engine.db.transaction() as session:
        row = session.get(ProcessInstance, result.instance_id)
        assert row is not None
        row.state = row.state.replace('"note": "first"', '"note": "fixed"')
    assert (
        engine.retry(result.instance_id, MANAGER, reason="service back").status
        == InstanceStatus.AWAITING_PEOPLE
    )
    assert [c["note"] for c in service_calls] == ["first", "fixed"]


def test_allowed_modules_and_augmented_assignment_work_in_scripts(engine: ProcessEngine) -> None:
    engine.deploy(bundle("scripts"), actor="owner")
    result = engine.start("allowed_import", business_key="S1")
    assert result.status == InstanceStatus.AWAITING_PEOPLE
    state = instance_row(engine, result.instance_id).state
    assert '"d": "2026-01-02"' in state and '"total": 6' in state
    assert '"datetime"' not in state  # the module itself is not kept in task data


def test_an_unknown_actor_role_set_cannot_claim(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1")
    submit = task_by_element(engine, started.instance_id, "submit")
    with pytest.raises(NotPermitted) as caught:
        engine.claim(submit.id, Actor("visitor"))
    assert caught.value.code == "wrong_role"


def test_scripts_run_with_lists_and_dates_in_the_task_data(engine: ProcessEngine) -> None:
    engine.deploy(bundle("scripts"), actor="owner")
    result = engine.start(
        "allowed_import", business_key="S1", data={"registrations": ["RCPR", "ADVP"], "n": [1, [2]]}
    )
    assert result.status == InstanceStatus.AWAITING_PEOPLE


def test_a_due_date_property_that_fails_is_a_model_error_and_leaves_no_task_row(
    engine: ProcessEngine,
) -> None:
    engine.deploy(bundle("scripts"), actor="owner")
    broken = engine.start("bad_due", business_key="S1")
    assert broken.status == InstanceStatus.ERROR
    assert broken.error is not None and "days_allowed" in broken.error["message"]
    assert open_tasks(engine, broken.instance_id) == []
    fixed = engine.start("bad_due", business_key="S2", data={"days_allowed": "3 working days"})
    [task] = open_tasks(engine, fixed.instance_id)
    assert task.due_at == START + timedelta(days=3)
