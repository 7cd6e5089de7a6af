"""Models drawn in other modellers, as a process owner uploads them: what riskflow runs, what its
check refuses or warns about, and that the instances end where the diagram ends.

The corpus under tests/fixtures/conformance/ is written for these tests in the styles the common
modellers produce (Camunda Modeler with camunda: attributes, bpmn.io with an unprefixed namespace,
two pools, message flows and a collapsed sub-process, SpiffArena with spiffworkflow: extensions, a
call activity and a file with no diagram).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import CLERK, FIXTURES, MANAGER
from sqlalchemy import select

from engine.bundle import Bundle
from engine.errors import DefinitionError, NotFound
from engine.models import AuditEvent, HumanTask, ProcessDefinition, ProcessInstance
from engine.runtime import InstanceStatus, ProcessEngine

CORPUS = FIXTURES / "conformance"


def corpus(name: str) -> Bundle:
    return Bundle.from_directory(CORPUS / name, name=name)


def open_tasks(engine: ProcessEngine, instance_id: int) -> list[HumanTask]:
    with engine.db.transaction(write=False) as session:
        return list(
            session.scalars(
                select(HumanTask)
                .where(HumanTask.instance_id == instance_id, HumanTask.state == "open")
                .order_by(HumanTask.id)
            )
        )


def the_open_task(engine: ProcessEngine, instance_id: int) -> HumanTask:
    tasks = open_tasks(engine, instance_id)
    assert len(tasks) == 1, [t.element_id for t in tasks]
    return tasks[0]


def instance(engine: ProcessEngine, instance_id: int) -> ProcessInstance:
    with engine.db.transaction(write=False) as session:
        row = session.get(ProcessInstance, instance_id)
        assert row is not None
        return row


def steps_done(engine: ProcessEngine, instance_id: int) -> list[str | None]:
    with engine.db.transaction(write=False) as session:
        return list(
            session.scalars(
                select(AuditEvent.element_id)
                .where(AuditEvent.instance_id == instance_id, AuditEvent.event == "task_completed")
                .order_by(AuditEvent.id)
            )
        )


def test_a_manual_task_is_done_by_a_person_and_a_plain_task_passes_through(engine: ProcessEngine) -> None:
    engine.deploy(corpus("camunda-modeler"), actor="owner")
    started = engine.start("leave_request", business_key="L1")
    fill_in = the_open_task(engine, started.instance_id)
    assert (fill_in.element_id, fill_in.candidate_role) == ("Activity_fill_in", "CLERK")
    engine.complete_task(fill_in.id, CLERK, {})
    decide = the_open_task(engine, started.instance_id)
    assert (decide.element_id, decide.candidate_role) == ("Activity_decide", "MANAGER")
    engine.complete_task(decide.id, MANAGER, {})
    filing = the_open_task(engine, started.instance_id)
    assert (filing.element_id, filing.candidate_role) == ("Activity_file_paper", "CLERK")
    assert filing.form_file is None
    result = engine.complete_task(filing.id, CLERK, {})
    # The plain task ("Note it in the rota") is nobody's work: the instance runs through it to the end.
    assert result.status == InstanceStatus.COMPLETED
    assert open_tasks(engine, started.instance_id) == []
    assert instance(engine, started.instance_id).status == InstanceStatus.COMPLETED
    assert steps_done(engine, started.instance_id) == [
        "Activity_fill_in",
        "Activity_decide",
        "Activity_file_paper",
    ]


def test_an_unprefixed_model_with_two_pools_and_a_collapsed_sub_process_runs_to_its_end(
    engine: ProcessEngine,
) -> None:
    result = engine.deploy(corpus("bpmn-io"), actor="owner")
    assert result.warnings == []
    # The customer's pool is drawn, not run: only the shop's process is executable.
    with pytest.raises(NotFound, match="no deployed definition contains a process with id 'customer'"):
        engine.start("customer", business_key="C0")
    in_stock = engine.start("order_handling", business_key="O1", data={"in_stock": True})
    engine.complete_task(the_open_task(engine, in_stock.instance_id).id, CLERK, {})
    # Inside the collapsed sub-process: "Walk to the shelf" is a plain task, "Take the goods" is manual.
    take = the_open_task(engine, in_stock.instance_id)
    assert (take.element_id, take.candidate_role) == ("Task_take", "CLERK")
    assert take.process_id == "SubProcess_pick"
    assert engine.complete_task(take.id, CLERK, {}).status == InstanceStatus.COMPLETED
    out_of_stock = engine.start("order_handling", business_key="O2", data={"in_stock": False})
    done = engine.complete_task(the_open_task(engine, out_of_stock.instance_id).id, CLERK, {})
    assert done.status == InstanceStatus.COMPLETED
    assert steps_done(engine, out_of_stock.instance_id) == ["Task_check"]


def test_a_call_activity_into_a_file_with_no_diagram_runs_and_returns(engine: ProcessEngine) -> None:
    result = engine.deploy(corpus("spiffarena"), actor="owner")
    assert result.warnings == []  # the payment file has no diagram part: nothing to draw, all to run
    started = engine.start("expense_claim", business_key="E1")
    claim = the_open_task(engine, started.instance_id)
    assert claim.form_file == "expense-schema.json"
    engine.complete_task(claim.id, CLERK, {"amount": 42})
    check = the_open_task(engine, started.instance_id)
    assert (check.element_id, check.candidate_role, check.form_file) == ("check_receipts", "MANAGER", None)
    assert engine.task_data(check.id)["amount"] == 42
    done = engine.complete_task(check.id, MANAGER, {})
    assert done.status == InstanceStatus.COMPLETED
    assert engine.instance_data(started.instance_id)["paid"] == 42


def test_the_check_refuses_a_process_id_defined_in_two_files_and_names_both(engine: ProcessEngine) -> None:
    original = corpus("spiffarena")
    copied = Bundle(original.name, {**original.files, "copy-of-payment.bpmn": original.files["payment.bpmn"]})
    with pytest.raises(DefinitionError) as refused:
        engine.deploy(copied, actor="owner")
    messages = [str(p) for p in refused.value.problems if "process id" in p.message]
    assert messages == [
        "payment.bpmn:3 [payment]: error: process id 'payment' is defined in both copy-of-payment.bpmn "
        "(line 3) and payment.bpmn: a bundle may define each process once; rename one of them "
        "(a copied file keeps its id)"
    ]
    with engine.db.transaction(write=False) as session:
        assert session.scalar(select(ProcessDefinition.id)) is None


def test_a_process_already_deployed_by_another_bundle_is_refused(engine: ProcessEngine) -> None:
    engine.deploy(corpus("spiffarena"), actor="owner")
    copy = corpus("spiffarena")
    with pytest.raises(DefinitionError) as refused:
        engine.deploy(Bundle("spiffarena-copy", copy.files), actor="owner")
    assert [str(p) for p in refused.value.problems] == [
        "expense_claim.bpmn [expense_claim]: error: process id 'expense_claim' is already deployed by the "
        "bundle 'spiffarena': a process belongs to one bundle; rename the process in 'spiffarena-copy', or "
        "deploy it as a new version of 'spiffarena'",
        "payment.bpmn [payment]: error: process id 'payment' is already deployed by the bundle "
        "'spiffarena': a process belongs to one bundle; rename the process in 'spiffarena-copy', or deploy "
        "it as a new version of 'spiffarena'",
    ]
    with engine.db.transaction(write=False) as session:
        assert session.scalars(select(ProcessDefinition.name)).all() == ["spiffarena"]


def test_camunda_settings_riskflow_does_not_run_are_warned_about_at_their_task(engine: ProcessEngine) -> None:
    result = engine.deploy(corpus("camunda-modeler"), actor="owner")
    assert [str(w) for w in result.warnings] == [
        "leave-request.bpmn:22 [Activity_fill_in]: warning: camunda:assignee, camunda:formKey: Camunda "
        "settings that riskflow does not run (a task's people come from its lane (lanes.json); a task's "
        "form is its formJsonSchemaFilename property)",
        "leave-request.bpmn:26 [Activity_decide]: warning: camunda:candidateGroups, camunda:dueDate, "
        "camunda:taskListener: Camunda settings that riskflow does not run (a task's people come from its "
        "lane (lanes.json); a task's due date is its dueIn or dueByStandard property; listeners do not run; "
        "put the work in a script task)",
    ]


def _with_leave_request(change: Callable[[str], str]) -> Bundle:
    original = corpus("camunda-modeler")
    text = change(original.files["leave-request.bpmn"].decode())
    return Bundle(original.name, {**original.files, "leave-request.bpmn": text.encode()})


def test_a_juel_condition_a_javascript_script_and_a_manual_task_form_are_refused_at_once(
    engine: ProcessEngine,
) -> None:
    def foreign(text: str) -> str:
        text = text.replace(
            '<bpmn:sequenceFlow id="Flow_3" sourceRef="Activity_decide" targetRef="Activity_file_paper" />',
            '<bpmn:sequenceFlow id="Flow_3" sourceRef="Activity_decide" targetRef="Activity_file_paper">'
            "<bpmn:conditionExpression>${approved}</bpmn:conditionExpression></bpmn:sequenceFlow>",
        )
        text = text.replace(
            '<bpmn:task id="Activity_note" name="Note it in the rota">',
            '<bpmn:scriptTask id="Activity_note" name="Note it in the rota" scriptFormat="javascript">'
            '<bpmn:script>execution.setVariable("noted", true);</bpmn:script>',
        ).replace("</bpmn:task>", "</bpmn:scriptTask>")
        return text.replace(
            "<bpmn:documentation>Put the signed form in the cabinet.</bpmn:documentation>",
            '<bpmn:extensionElements xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core">'
            '<spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" '
            'value="filing.json" /></spiffworkflow:properties></bpmn:extensionElements>',
        )

    with pytest.raises(DefinitionError) as refused:
        engine.deploy(_with_leave_request(foreign), actor="owner")
    errors = [f"[{p.element_id}] {p.message}" for p in refused.value.problems if p.severity == "error"]
    assert (
        "[Flow_3] condition '${approved}' is a Camunda (JUEL) expression; riskflow evaluates Python: "
        "write it without the braces, e.g. 'approved'" in errors
    )
    assert (
        "[Activity_note] scriptFormat 'javascript': riskflow runs scripts as Python; rewrite the script "
        "in Python" in errors
    )
    assert (
        "[Activity_file_paper] manual task 'File the paper copy' has a form: a manual task is work done "
        "away from riskflow and only confirmed; make it a user task to record answers" in errors
    )
