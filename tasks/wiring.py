"""Plugs the domain into the engine: roles, service operations, script functions, assignment, and
what a deploy implies for the register (the engine calls it by name in the deploy's transaction)."""

from __future__ import annotations

import tasks.case_team  # noqa: F401  (keeps each case's team on its instances and tasks)
from casework.critical_few import use_rule_book
from casework.roles import TASK_ROLES
from engine.clock import Clock
from engine.db import Database
from engine.runtime import KEPT_WORKFLOWS, ProcessEngine
from engine.scripting import ServiceRegistry
from tasks.assignment import CaseAssignment
from tasks.critical_few_rule import RULE_BOOK, mark_cases_by_a_new_table
from tasks.services import register_operations


def plug_in_the_register() -> None:
    """Tell the register where the critical-few table in force is found (the deployed versions), so
    that its operations keep each case's critical-few mark by it."""
    use_rule_book(RULE_BOOK)


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
    )
