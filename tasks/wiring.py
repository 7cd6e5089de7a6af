"""Plugs the domain into the engine: roles, service operations, script functions, assignment, what
a deploy implies for the register and what a step implies for the case's team on the engine's rows
(the engine calls both by name, in the deploy's or the step's own transaction)."""

from __future__ import annotations

from casework import register
from casework.critical_few import use_rule_book
from casework.roles import TASK_ROLES
from engine.clock import Clock
from engine.db import Database
from engine.runtime import KEPT_WORKFLOWS, ProcessEngine
from engine.scripting import ServiceRegistry
from tasks.assignment import CaseAssignment
from tasks.case_team import give_step_rows_their_case_team
from tasks.critical_few_rule import RULE_BOOK, mark_cases_by_a_new_table
from tasks.ownership import grade_rules_in_force
from tasks.services import register_operations
from tasks.step_counts import count_step


def plug_in_the_register() -> None:
    """Tell the register where the tables in force are found (the deployed versions): the critical-few
    table, by which its operations keep each case's critical-few mark, and the grade rules, against
    which every new owner is checked."""
    use_rule_book(RULE_BOOK)
    register.use_grade_rules(grade_rules_in_force)


def build_services() -> ServiceRegistry:
    """The service operations riskflow's models may call (they keep the central register)."""
    plug_in_the_register()
    return register_operations(ServiceRegistry())


def build_engine(
    db: Database, clock: Clock | None = None, *, kept_workflows: int = KEPT_WORKFLOWS
) -> ProcessEngine:
    """The engine as the app, the worker and the CLI use it (`kept_workflows`: how many stepped
    workflows it keeps in memory for the next step of the same case)."""
    plug_in_the_register()
    return ProcessEngine(
        db,
        clock=clock,
        services=build_services(),
        resolver=CaseAssignment(clock),
        known_roles=TASK_ROLES,
        kept_workflows=kept_workflows,
        on_deploy=(mark_cases_by_a_new_table,),  # re-marks the critical few when a deploy changes the rule
        # A step's new rows take their case's team; the operators' metrics count the step.
        on_step=(give_step_rows_their_case_team, count_step),
    )
