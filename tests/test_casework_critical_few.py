"""The critical few (domain.md 2.4): a small set of cases marked critical, each with the reasons in plain
words; a watch band below it; everything else background; the flags collapsed into five lenses."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from unittest.mock import ANY

import pytest
from casework_area import small_area
from conftest import START
from sqlalchemy import func, select

from casework import register
from casework.case_record import OTHER_REGISTRATIONS, read_case
from casework.critical_few import (
    Band,
    Override,
    RiskProfile,
    assess,
    critical_reasons,
    recompute_critical_flags,
    table_in_force,
)
from casework.register_types import Lens
from casework.vocabulary import MappaCategory, RoshLevel
from engine import drafts
from engine.bundle import Bundle
from engine.clock import ManualClock
from engine.db import Database
from engine.models import AuditEvent, ProcessDefinition
from engine.runtime import ProcessEngine
from tasks.critical_few_rule import CRITICAL_FEW_TABLE, CriticalFewTable
from tasks.wiring import build_engine

H, M, L, VH = RoshLevel.HIGH, RoshLevel.MEDIUM, RoshLevel.LOW, RoshLevel.VERY_HIGH


def profile(
    rosh: RoshLevel | None, *codes: str, mappa_level: int | None = None, **extra: object
) -> RiskProfile:
    return RiskProfile(rosh=rosh, mappa_level=mappa_level, registrations=frozenset(codes), **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "reasons"),
    [
        (profile(VH), ["Very High RoSH"]),
        (profile(M, mappa_level=3), ["MAPPA level 3"]),
        (profile(H, mappa_level=2), ["MAPPA level 2 with High RoSH"]),
        (profile(H, "RCPR"), ["High RoSH + child protection"]),
        (profile(H, "ADVP", "WEAP"), ["High RoSH + domestic abuse perpetrator", "High RoSH + weapons"]),
        (profile(H, "IMAR"), ["High RoSH + MARAC"]),
        (profile(H, "AV2S"), ["High RoSH + risk to staff"]),
        (profile(L, "RPIR"), ["Public interest case"]),
        (profile(H, open_recall_or_breach=True), ["Open recall or breach on a High RoSH case"]),
        (profile(VH, "RCHD", mappa_level=3), ["Very High RoSH", "MAPPA level 3"]),
    ],
)
def test_a_critical_case_carries_every_reason_in_plain_words(case: RiskProfile, reasons: list[str]) -> None:
    assessment = assess(case)
    assert assessment.band is Band.CRITICAL and assessment.critical
    assert assessment.reasons == reasons


def test_high_rosh_alone_is_watched_not_critical() -> None:
    assert assess(profile(H)) == assess(profile(H, "ALSH", "AMHL"))
    assert (assess(profile(H)).band, assess(profile(H)).reasons) == (Band.WATCH, ["High RoSH"])


@pytest.mark.parametrize(
    ("code", "words"), [("RCPR", "child protection"), ("REG30", "domestic abuse history")]
)
def test_medium_rosh_with_a_child_or_domestic_abuse_register_is_watched(code: str, words: str) -> None:
    assessment = assess(profile(M, code))
    assert (assessment.band, assessment.reasons) == (Band.WATCH, [f"Medium RoSH + {words}"])


@pytest.mark.parametrize(
    "case",
    [
        profile(M),
        profile(L, "ADVP"),
        profile(M, "WEAP", mappa_level=1),
        profile(None),
        profile(M, mappa_level=2),
    ],
)
def test_everything_else_is_background(case: RiskProfile) -> None:
    assert assess(case).band is Band.BACKGROUND and assess(case).reasons == []


def test_a_breach_on_a_lower_risk_case_is_not_critical() -> None:
    assert critical_reasons(profile(M, open_recall_or_breach=True)) == []


def test_an_override_makes_a_case_critical_until_it_expires() -> None:
    override = Override(by="spo.north", reason="victim lives next door", until=date(2027, 1, 31))
    case = profile(L, override=override)
    assert critical_reasons(case, today=date(2027, 1, 31)) == [
        "Marked critical by spo.north until 31 January 2027: victim lives next door"
    ]
    assert assess(case, today=date(2027, 2, 1)).band is Band.BACKGROUND


def test_the_flags_collapse_into_five_lenses(database: Database) -> None:
    with database.transaction() as session:
        small_area(session)
        register.identify_case(session, "X100001", at=START, by="admin")
        register.record_rosh(session, "X100001", M, at=START, by="om", source="OASys")
        register.record_mappa(session, "X100001", MappaCategory.CAT2, 1, at=START, by="om")
        for code in ("RCPR", "RCCO", "ADVP", "REG30", "WEAP", "AV2S", "AMHL", "INLL"):
            register.add_registration(session, "X100001", code, at=START, by="om")
        record = read_case(session, register.find_case(session, "X100001"), now=START, today=START.date())
        gathered = {lens: [line.registration.code for line in lines] for lens, lines in record.lenses}
    assert gathered == {
        Lens.ROSH.value: ["RMRH"],
        Lens.MAPPA.value: ["MAPP"],
        Lens.CHILDREN_SAFEGUARDING.value: ["RCCO", "RCPR"],
        Lens.DOMESTIC_ABUSE.value: ["ADVP", "REG30"],
        Lens.STAFF_WEAPONS.value: ["AV2S", "WEAP"],
        OTHER_REGISTRATIONS: ["AMHL", "INLL"],
    }


def test_the_rule_reads_a_case_on_the_register_by_its_active_registrations(database: Database) -> None:
    with database.transaction() as session:
        small_area(session)
        register.identify_case(session, "X100001", at=START, by="admin")
        register.record_rosh(session, "X100001", H, at=START, by="om", source="OASys")
        child = register.add_registration(session, "X100001", "RCPR", at=START, by="om")
        register.record_mappa(session, "X100001", MappaCategory.CAT2, 1, at=START, by="om")
        case = register.find_case(session, "X100001")
        assert assess(RiskProfile.of(case)).reasons == ["High RoSH + child protection"]
        register.deregister(session, child.id, at=START, by="spo", notes="plan ended")
        assert assess(RiskProfile.of(case)).band is Band.WATCH


@pytest.mark.parametrize(
    ("rosh", "mappa_level", "codes", "counted"),
    [
        (VH, 2, ("RCPR", "ALSH"), {"RVHR", "MAPP"}),  # Very High RoSH is a reason on its own
        (H, 2, ("RCPR", "ALSH"), {"MAPP", "RCPR"}),  # High RoSH is the band, not a reason alone
        (H, 1, ("WEAP", "RCCO"), {"WEAP"}),  # only what the table reads with High RoSH
        (M, 3, ("RCPR",), {"MAPP"}),
        (L, None, ("RPIR", "ALSH"), {"RPIR"}),
        (H, None, ("ALSH",), set()),  # watched, not critical: no registration makes it critical
    ],
)
def test_the_case_record_names_the_registrations_the_table_makes_critical(
    database: Database,
    rosh: RoshLevel,
    mappa_level: int | None,
    codes: tuple[str, ...],
    counted: set[str],
) -> None:
    with database.transaction() as session:
        small_area(session)
        register.identify_case(session, "X100001", at=START, by="admin")
        register.record_rosh(session, "X100001", rosh, at=START, by="om", source="OASys")
        if mappa_level:
            register.record_mappa(session, "X100001", MappaCategory.CAT2, mappa_level, at=START, by="om")
        for code in codes:
            register.add_registration(session, "X100001", code, at=START, by="om")
        record = read_case(session, register.find_case(session, "X100001"), now=START, today=START.date())
        assert {line.registration.code for line in record.critical_registrations} == counted


def test_the_rule_is_the_decision_table_the_process_owner_can_change(tmp_path: Path) -> None:
    inputs = {"rosh": "HIGH", "mappa_level": 0, "registrations": ["WEAP"], "open_recall_or_breach": False}
    assert CriticalFewTable().reasons(inputs) == ["High RoSH + weapons"]
    # The process owner rewords one row and adds one: the rule follows the table, not the code.
    table = CRITICAL_FEW_TABLE.read_text()
    table = table.replace('"High RoSH + weapons"', '"High RoSH and a weapons flag"')
    extra = """      <rule id="critical_few_rule_lifer">
        <description>Lifer</description>
        <inputEntry id="critical_few_rule_lifer_in_1"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_2"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_3"><text>"INLL" in ?</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_4"><text>-</text></inputEntry>
        <outputEntry id="critical_few_rule_lifer_out_1"><text>"Life sentence"</text></outputEntry>
      </rule>
    </decisionTable>"""
    changed = tmp_path / "critical_few.dmn"
    changed.write_text(table.replace("    </decisionTable>", extra))
    assert CriticalFewTable(changed).reasons(inputs) == ["High RoSH and a weapons flag"]
    lifer = {**inputs, "rosh": "LOW", "registrations": ["INLL"]}
    assert CriticalFewTable(changed).reasons(lifer) == ["Life sentence"]
    assert CriticalFewTable().reasons(lifer) == []


# ------------------------------------------------------------------- the flag the register stores


def stored_flag(database: Database, crn: str) -> bool:
    with database.transaction(write=False) as session:
        return register.find_case(session, crn).critical


def test_the_stored_flag_follows_a_change_of_rosh(database: Database) -> None:
    with database.transaction() as session:
        small_area(session)
        register.identify_case(session, "X100001", at=START, by="admin")
        assert not register.find_case(session, "X100001").critical
        register.record_rosh(session, "X100001", VH, at=START, by="om", source="OASys")
    assert stored_flag(database, "X100001")
    with database.transaction() as session:
        register.record_rosh(session, "X100001", M, at=START, by="om", source="OASys review")
    assert not stored_flag(database, "X100001")


def test_the_stored_flag_follows_a_new_registration_and_a_deregistration(database: Database) -> None:
    with database.transaction() as session:
        small_area(session)
        register.identify_case(session, "X100001", at=START, by="admin")
        register.record_rosh(session, "X100001", H, at=START, by="om", source="OASys")
    assert not stored_flag(database, "X100001")  # high alone is watched, not critical
    with database.transaction() as session:
        weapons = register.add_registration(session, "X100001", "WEAP", at=START, by="om")
        assert register.find_case(session, "X100001").critical  # in the same transaction
    assert stored_flag(database, "X100001")
    with database.transaction() as session:
        register.deregister(session, weapons.id, at=START, by="spo", notes="no longer applies")
    assert not stored_flag(database, "X100001")


def test_the_stored_flag_follows_mappa_and_closure(database: Database) -> None:
    with database.transaction() as session:
        small_area(session)
        register.identify_case(session, "X100001", at=START, by="admin")
        register.record_rosh(session, "X100001", L, at=START, by="om", source="OASys")
        register.record_mappa(session, "X100001", MappaCategory.CAT2, 3, at=START, by="om")
    assert stored_flag(database, "X100001")
    with database.transaction() as session:
        register.record_mappa(session, "X100001", MappaCategory.CAT2, 1, at=START, by="om")
    assert not stored_flag(database, "X100001")
    with database.transaction() as session:
        register.add_registration(session, "X100001", "RPIR", at=START, by="om")
    assert stored_flag(database, "X100001")
    with database.transaction() as session:
        register.close_case(session, "X100001", at=START, by="spo", reason="sentence ended")
    assert not stored_flag(database, "X100001")  # every registration ended with the case


def test_every_stored_flag_is_recomputed_when_the_rule_changes(database: Database, tmp_path: Path) -> None:
    with database.transaction() as session:
        small_area(session)
        for crn, rosh in (("X100001", L), ("X100002", L), ("X100003", VH)):
            register.identify_case(session, crn, at=START, by="admin")
            register.record_rosh(session, crn, rosh, at=START, by="om", source="OASys")
        register.add_registration(session, "X100001", "INLL", at=START, by="om")
    with database.transaction() as session:
        assert recompute_critical_flags(session) == 0  # the register kept them in step
    # The process owner makes lifers critical: the flags follow once recomputed with the new table.
    lifer = """      <rule id="critical_few_rule_lifer">
        <description>Lifer</description>
        <inputEntry id="critical_few_rule_lifer_in_1"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_2"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_3"><text>"INLL" in ?</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_4"><text>-</text></inputEntry>
        <outputEntry id="critical_few_rule_lifer_out_1"><text>"Life sentence"</text></outputEntry>
      </rule>
    </decisionTable>"""
    changed = tmp_path / "critical_few.dmn"
    changed.write_text(CRITICAL_FEW_TABLE.read_text().replace("    </decisionTable>", lifer))
    with database.transaction() as session:
        assert recompute_critical_flags(session, CriticalFewTable(changed), chunk=2) == 1
    assert [stored_flag(database, crn) for crn in ("X100001", "X100002", "X100003")] == [True, False, True]
    with database.transaction() as session:
        assert recompute_critical_flags(session, chunk=2) == 1  # and back under the table in force
    assert not stored_flag(database, "X100001")


# ------------------------------------------------------------- the table of the newest version


LIFER_ROW = """      <rule id="critical_few_rule_lifer">
        <description>Lifer</description>
        <inputEntry id="critical_few_rule_lifer_in_1"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_2"><text>-</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_3"><text>"INLL" in ?</text></inputEntry>
        <inputEntry id="critical_few_rule_lifer_in_4"><text>-</text></inputEntry>
        <outputEntry id="critical_few_rule_lifer_out_1"><text>"Life sentence"</text></outputEntry>
      </rule>
    </decisionTable>"""


def publish_change(engine: ProcessEngine, path: str, old: str, new: str, note: str) -> int:
    """A process owner edits one file of the newest version in a draft and publishes it."""
    with engine.db.transaction() as session:
        version = session.scalar(select(func.max(ProcessDefinition.version)))
        assert version is not None
        draft = drafts.start_draft(session, "offender-management", version, actor="owner", now=START)
        text = draft.files[path]
        assert old in text
        drafts.save_file(
            session, draft.id, path, text.replace(old, new), revision=draft.revision, actor="owner", now=START
        )
        draft_id = draft.id
    return drafts.publish(engine, draft_id, actor="owner", note=note).version


def recomputations(database: Database) -> list[dict[str, object]]:
    with database.transaction(write=False) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "critical_few_recomputed").order_by(AuditEvent.id)
        )
        return [dict(e.detail or {}) for e in events]


def test_publishing_a_changed_critical_few_table_changes_which_cases_are_critical(
    database: Database, clock: ManualClock
) -> None:
    with database.transaction() as session:
        small_area(session)
        for crn, rosh in (("X100001", L), ("X100002", L), ("X100003", VH)):
            register.identify_case(session, crn, at=START, by="admin")
            register.record_rosh(session, crn, rosh, at=START, by="om", source="OASys")
        register.add_registration(session, "X100001", "INLL", at=START, by="om")
    engine = build_engine(database, clock)
    engine.deploy(Bundle.from_directory(CRITICAL_FEW_TABLE.parent), actor="owner")
    assert recomputations(database) == []  # the same table as before: nothing to do

    # The process owner makes lifers critical and publishes: the lifer is critical from that moment.
    version = publish_change(
        engine, "critical_few.dmn", "    </decisionTable>", LIFER_ROW, "Lifers are critical"
    )
    assert [stored_flag(database, crn) for crn in ("X100001", "X100002", "X100003")] == [True, False, True]
    assert recomputations(database) == [
        {"name": "offender-management", "version": version, "changed": 1, "seconds": ANY}
    ]
    # The register marks later changes by the published table, and says why on the case.
    with database.transaction() as session:
        register.add_registration(session, "X100002", "INLL", at=START, by="om")
        assert register.find_case(session, "X100002").critical
        assert critical_reasons(
            RiskProfile(L, registrations=frozenset({"INLL"})), table=table_in_force(session)
        ) == ["Life sentence"]
        record = read_case(session, register.find_case(session, "X100002"), now=START, today=START.date())
        assert record.assessment.reasons == ["Life sentence"]
        # The case record shows the registration the published row reads as the one that makes it critical.
        assert [line.registration.code for line in record.critical_registrations] == ["INLL"]

    # A publish that leaves the table alone re-marks nothing.
    publish_change(engine, "policy.md", "# Area risk policy", "# Area risk policy (2027)", "Policy title")
    assert len(recomputations(database)) == 1
    # Taking the row out again ends the lifers' marks.
    publish_change(
        engine, "critical_few.dmn", LIFER_ROW, "    </decisionTable>", "Lifers back to the usual rule"
    )
    assert [stored_flag(database, crn) for crn in ("X100001", "X100002", "X100003")] == [False, False, True]
    assert recomputations(database)[-1]["changed"] == 2
