"""Versions of a definition: comparing two in words, and moving running instances between them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import CLERK, START, bundle
from sqlalchemy import select
from test_runtime import audit_events, instance_row, open_tasks, task_by_element

from engine.bundle import Bundle
from engine.compare import compare_files
from engine.errors import EngineError
from engine.models import AuditEvent, ProcessDefinition
from engine.runtime import ProcessEngine

SUBMIT_DUE = b'<spiffworkflow:property name="dueIn" value="5 working days"/>'
FIRST_FLOW = b'<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="submit"/>'
CHECK_STEP = (
    b'<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check_identity"/>'
    b'<bpmn:userTask id="check_identity" name="Check who is asking"/>'
    b'<bpmn:sequenceFlow id="f1b" sourceRef="check_identity" targetRef="submit"/>'
)


def changed(original: Bundle, path: str, old: bytes, new: bytes) -> Bundle:
    files = dict(original.files)
    assert old in files[path], f"{old!r} is not in {path}"
    files[path] = files[path].replace(old, new)
    return Bundle(original.name, files)


def with_lane(bpmn: Bundle, element_id: str) -> Bundle:
    """The bundle with `element_id` added to the Clerk lane."""
    ref = b"<bpmn:flowNodeRef>submit</bpmn:flowNodeRef>"
    return changed(
        bpmn, "approval.bpmn", ref, ref + f"<bpmn:flowNodeRef>{element_id}</bpmn:flowNodeRef>".encode()
    )


def definition_id(engine: ProcessEngine, version: int) -> int:
    with engine.db.transaction(write=False) as session:
        found = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.version == version))
    assert found is not None
    return found


# ------------------------------------------------------------------------------ comparing


def test_a_comparison_names_changed_steps_and_decision_rows_in_plain_words() -> None:
    v1 = bundle("approval")
    v2 = changed(v1, "approval.bpmn", SUBMIT_DUE, SUBMIT_DUE.replace(b"5 working", b"3 working"))
    v2 = changed(v2, "approval.bpmn", FIRST_FLOW, CHECK_STEP)
    v2 = changed(v2, "approval_level.dmn", b"&gt; 1000", b"&gt; 500")
    v2 = changed(
        v2, "approval.bpmn", b'<bpmn:userTask id="notify_manager" name="Note it in the ledger"/>', b""
    )
    comparison = compare_files(v1.files, v2.files)

    assert comparison.element_ids("added") == ["check_identity", "f1b"]
    assert comparison.element_ids("removed") == ["notify_manager"]
    submit = next(c for c in comparison.steps if c.element_id == "submit")
    assert submit.label == "Task for staff “Submit the request”"
    assert submit.details == ("due time: “5 working days” → “3 working days”",)
    first_path = next(c for c in comparison.steps if c.element_id == "f1")
    assert first_path.details == ("to: “Submit the request” → “Check who is asking”",)
    [row] = comparison.rules
    assert (row.kind, row.decision, row.rule) == ("changed", "Approval level", "row 1")
    assert row.details == ("when Amount: “> 1000” → “> 500”",)
    assert comparison.files == []


def test_moving_the_diagram_or_reordering_json_is_no_change() -> None:
    v1 = bundle("approval")
    files = dict(v1.files)
    form = files["forms/submit.json"]
    files["forms/submit.json"] = b"  " + form.replace(b"\n", b"\n  ")
    assert compare_files(v1.files, files).unchanged
    files["forms/submit.json"] = form.replace(b'"amount"', b'"sum"', 1)
    assert compare_files(v1.files, files).files == [("changed", "forms/submit.json")]


def test_renaming_a_step_does_not_report_its_paths_as_changed() -> None:
    v1 = bundle("approval")
    v2 = changed(v1, "approval.bpmn", b'name="Submit the request"', b'name="Send the request"')
    assert [c.element_id for c in compare_files(v1.files, v2.files).steps] == ["submit"]


# ------------------------------------------------------------------------------ migrating


def test_a_waiting_instance_moves_to_a_new_version_and_follows_its_settings(engine: ProcessEngine) -> None:
    v1 = bundle("approval")
    engine.deploy(v1, actor="owner")
    started = engine.start("approval", business_key="A1", actor=CLERK)
    [before] = open_tasks(engine, started.instance_id)
    assert before.due_at == START + timedelta(days=7)  # five working days
    v2 = changed(v1, "approval.bpmn", SUBMIT_DUE, SUBMIT_DUE.replace(b"5 working", b"2 working"))
    engine.deploy(v2, actor="owner", note="Requests are submitted within two working days")
    target = definition_id(engine, 2)

    [dry] = engine.check_migration([started.instance_id], target)
    assert (dry.can_move, dry.moved, dry.from_version, dry.to_version) == (True, False, 1, 2)
    assert dry.reason == "can move; “Submit the request” will follow the new settings"
    assert instance_row(engine, started.instance_id).definition_id == definition_id(engine, 1)  # dry run

    [done] = engine.migrate([started.instance_id], target, CLERK, note="Two-day submission rule")
    assert done.moved
    assert instance_row(engine, started.instance_id).definition_id == target
    [after] = open_tasks(engine, started.instance_id)
    assert after.due_at == START + timedelta(days=2)
    assert "instance_migrated" in audit_events(engine, started.instance_id)
    with engine.db.transaction(write=False) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.event == "instance_migrated"))
    assert event is not None and event.reason == "Two-day submission rule"
    assert event.detail == {"from_version": 1, "to_version": 2}


def test_a_new_step_before_the_current_one_does_not_stop_a_move_and_a_new_case_uses_it(
    engine: ProcessEngine,
) -> None:
    v1 = bundle("approval")
    engine.deploy(v1, actor="owner")
    old_case = engine.start("approval", business_key="A1", actor=CLERK)
    engine.deploy(
        with_lane(changed(v1, "approval.bpmn", FIRST_FLOW, CHECK_STEP), "check_identity"), actor="owner"
    )
    new_case = engine.start("approval", business_key="A2", actor=CLERK)
    assert [t.element_id for t in open_tasks(engine, new_case.instance_id)] == ["check_identity"]
    assert [t.element_id for t in open_tasks(engine, old_case.instance_id)] == ["submit"]
    [result] = engine.migrate([old_case.instance_id], definition_id(engine, 2), CLERK, note="Identity checks")
    assert result.moved
    assert [t.element_id for t in open_tasks(engine, old_case.instance_id)] == ["submit"]


def test_an_instance_at_a_step_the_new_version_removes_stays_where_it_is(engine: ProcessEngine) -> None:
    v1 = bundle("approval")
    engine.deploy(v1, actor="owner")
    started = engine.start("approval", business_key="A1", actor=CLERK)
    engine.complete_task(
        task_by_element(engine, started.instance_id, "submit").id, CLERK, {"amount": 5, "reason": "pens"}
    )
    assert {t.element_id for t in open_tasks(engine, started.instance_id)} == {
        "notify_clerk",
        "notify_manager",
    }
    state_before = instance_row(engine, started.instance_id).state
    v2 = v1
    for part in (
        b"<bpmn:flowNodeRef>notify_manager</bpmn:flowNodeRef>",
        b'<bpmn:sequenceFlow id="f9" sourceRef="fork" targetRef="notify_manager"/>',
        b'<bpmn:userTask id="notify_manager" name="Note it in the ledger"/>',
        b'<bpmn:sequenceFlow id="f11" sourceRef="notify_manager" targetRef="join"/>',
    ):
        v2 = changed(v2, "approval.bpmn", part, b"")
    engine.deploy(v2, actor="owner")

    [result] = engine.migrate([started.instance_id], definition_id(engine, 2), CLERK, note="No ledger")
    assert (result.can_move, result.moved) == (False, False)
    assert result.reason == "cannot move: it is at “Note it in the ledger”, which the target version removes"
    row = instance_row(engine, started.instance_id)
    assert (row.definition_id, row.state) == (definition_id(engine, 1), state_before)
    assert "instance_migrated" not in audit_events(engine, started.instance_id)


def test_finished_and_already_moved_instances_are_refused_with_the_reason(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1", actor=CLERK)
    [result] = engine.check_migration([started.instance_id], definition_id(engine, 1))
    assert result.reason == "cannot move: it is already on version 1"
    engine.terminate(started.instance_id, CLERK, reason="Withdrawn")
    engine.deploy(
        changed(bundle("approval"), "approval.bpmn", b"Submit the request", b"Send it"), actor="owner"
    )
    [result] = engine.check_migration([started.instance_id], definition_id(engine, 2))
    assert result.reason == "cannot move: it has finished"


def test_a_migration_needs_a_change_note(engine: ProcessEngine) -> None:
    engine.deploy(bundle("approval"), actor="owner")
    started = engine.start("approval", business_key="A1", actor=CLERK)
    with pytest.raises(EngineError) as raised:
        engine.migrate([started.instance_id], definition_id(engine, 1), CLERK, note="  ")
    assert raised.value.code == "reason_required"


def test_each_new_version_records_the_steps_it_adds_or_changes(engine: ProcessEngine) -> None:
    v1 = bundle("approval")
    engine.deploy(v1, actor="owner")
    v2 = changed(v1, "approval.bpmn", SUBMIT_DUE, SUBMIT_DUE.replace(b"5 working", b"2 working"))
    engine.deploy(
        with_lane(changed(v2, "approval.bpmn", FIRST_FLOW, CHECK_STEP), "check_identity"), actor="owner"
    )
    with engine.db.transaction(write=False) as session:
        steps = dict(
            session.execute(select(ProcessDefinition.version, ProcessDefinition.changed_steps)).all()
        )
    assert steps == {1: None, 2: ["check_identity", "submit"]}  # the paths to and from it are not steps
