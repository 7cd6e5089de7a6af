"""The register list: the cases a member of staff may see, searched, filtered, sorted and paged in SQL.

`visible_to` is casework.access.may_view written as a WHERE clause, so that a list of a quarter of a
million cases never loads a case into Python to ask whether it may be shown; tests hold the two to
the same answers for every person and case of the demo area. `critical_few` is the critical-few
rule (casework.critical_few) as the register stores it on each case. A page is a count and one
indexed query with LIMIT and OFFSET.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Index,
    Select,
    and_,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from casework.models import AccessLimitation, AccessListEntry, Case, Staff, Team
from casework.roles import Role
from casework.vocabulary import HIGH_ROSH, AccessList, MappaCategory, RoshLevel, Stage

PAGE_SIZE = 25
SEARCH_LIMIT = 100  # characters of a search kept
CRN = re.compile(r"^[A-Z][0-9]{6}$")
PARTIAL_CRN = re.compile(r"^[A-Z][0-9]{1,5}$")


class SortKey(StrEnum):
    """The columns the register list sorts by."""

    NAME = "name"
    CRN = "crn"
    STAGE = "stage"
    ROSH = "rosh"
    MAPPA = "mappa"
    TIER = "tier"
    OWNER = "owner"


# Filter values beyond the vocabularies' own.
OPEN_STAGES = "open"  # every stage but closed (the default)
ALL_STAGES = "all"  # open and closed
ANY = ""
NONE = "none"
ME = "me"
UNALLOCATED = "unallocated"


@dataclass(frozen=True)
class RegisterFilter:
    """What the person asked the list for; every field has a safe default."""

    search: str = ""
    stage: str = OPEN_STAGES  # OPEN_STAGES, ALL_STAGES, or a Stage value
    rosh: str = ANY  # ANY, NONE (not yet assessed), or a RoshLevel value
    mappa: str = ANY  # ANY, NONE, "eligible", or a level "1", "2", "3"
    owner: str = ANY  # ANY, ME, UNALLOCATED, or a staff id
    critical: bool = False
    sort: SortKey = SortKey.NAME
    descending: bool = False
    page: int = 1


@dataclass(frozen=True)
class RegisterRow:
    """One case as the register list shows it."""

    crn: str
    name: str | None
    stage: Stage
    rosh: RoshLevel | None
    mappa_category: MappaCategory | None
    mappa_level: int | None
    tier: int | None
    owner: str | None
    team: str | None
    critical: bool


@dataclass(frozen=True)
class RegisterPage:
    """One page of the list, with how many cases match in all."""

    rows: list[RegisterRow]
    total: int
    page: int
    pages: int
    wanted: RegisterFilter


def visible_to(session: Session, staff: Staff) -> ColumnElement[bool]:
    """casework.access.may_view as SQL: true for exactly the cases `staff` may see.

    The few ids the rule depends on (limited-access cases, the staff this person manages, the teams
    they lead) are read first, so the clause left is plain comparisons of indexed columns: the
    database can walk the owner and team indexes instead of testing every case.
    """
    if not staff.active:
        return false()
    listed = select(AccessLimitation.case_id, AccessListEntry.staff_id, AccessListEntry.on_list).join(
        AccessListEntry, AccessListEntry.limitation_id == AccessLimitation.id
    )
    excluded: set[int] = set()
    restricted: set[int] = set()
    restricted_to_me: set[int] = set()
    for case_id, staff_id, on_list in session.execute(listed):
        if on_list == AccessList.EXCLUSION and staff_id == staff.id:
            excluded.add(case_id)
        elif on_list == AccessList.RESTRICTION:
            restricted.add(case_id)
            if staff_id == staff.id:
                restricted_to_me.add(case_id)
    works_on = _works_on(session, staff)
    if restricted:
        works_on = and_(works_on, Case.id.not_in(sorted(restricted)))
    if restricted_to_me:
        works_on = or_(works_on, Case.id.in_(sorted(restricted_to_me)))
    if excluded:
        return and_(Case.id.not_in(sorted(excluded)), works_on)
    return works_on


def _works_on(session: Session, staff: Staff) -> ColumnElement[bool]:
    """The relationships of access._relationships, as SQL."""
    if staff.holds(Role.ASSISTANT_CHIEF_OFFICER):
        return true()
    managed = set(session.scalars(select(Staff.id).where(Staff.line_manager_id == staff.id)))
    owners = sorted({staff.id, *managed})
    clauses: list[ColumnElement[bool]] = [
        Case.owner_id.in_(owners) if len(owners) > 1 else Case.owner_id == staff.id
    ]
    teams: set[int] = set()
    if staff.holds(Role.SENIOR_PROBATION_OFFICER):
        teams |= set(session.scalars(select(Team.id).where(Team.spo_id == staff.id)))
        if staff.team_id is not None:
            teams.add(staff.team_id)
    if staff.holds(Role.CASE_ADMINISTRATOR) and staff.team_id is not None:
        teams.add(staff.team_id)
    if teams:
        clauses.append(Case.team_id.in_(sorted(teams)))
    if staff.holds(Role.CASE_ADMINISTRATOR) or staff.holds(Role.SENIOR_PROBATION_OFFICER):
        clauses.append(Case.owner_id.is_(None))
    elif staff.holds(Role.OFFENDER_MANAGER):
        clauses.append(and_(Case.owner_id.is_(None), Case.stage == Stage.IDENTIFIED))
    if staff.holds(Role.RISK_CONSULTANT):
        clauses.append(Case.rosh.in_(HIGH_ROSH))
    if staff.holds(Role.MAPPA_COORDINATOR):
        clauses.append(Case.mappa_category.is_not(None))
    return or_(*clauses)


def critical_few() -> ColumnElement[bool]:
    """critical_few.critical_reasons as SQL: the flag the register stores on each case by that rule,
    over its RoSH, MAPPA level and registrations in force (no override, no recall), so that an index
    serves the filter (casework.critical_few.keep_critical_flag keeps it in step)."""
    return Case.critical == true()


def register_page(session: Session, staff: Staff, wanted: RegisterFilter) -> RegisterPage:
    """The page of the register list `wanted` asks for, of the cases `staff` may see."""
    where = and_(visible_to(session, staff), *_filters(staff, wanted))
    total = session.scalar(select(func.count()).select_from(Case).where(where)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, wanted.page), pages)
    query = _page_query(where, wanted, (page - 1) * PAGE_SIZE)
    found = session.execute(query).all()
    rows = [
        RegisterRow(
            crn=c.crn,
            name=c.name if (c.forename or c.surname) else None,
            stage=c.stage,
            rosh=c.rosh,
            mappa_category=c.mappa_category,
            mappa_level=c.mappa_level,
            tier=c.tier,
            owner=owner_name,
            team=team_name,
            critical=c.critical,
        )
        for c, owner_name, team_name in found
    ]
    return RegisterPage(rows=rows, total=total, page=page, pages=pages, wanted=wanted)


def _filters(staff: Staff, wanted: RegisterFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if wanted.stage == OPEN_STAGES:
        clauses.append(Case.stage != Stage.CLOSED)
    elif wanted.stage != ALL_STAGES:
        clauses.append(Case.stage == Stage(wanted.stage))
    if wanted.rosh == NONE:
        clauses.append(Case.rosh.is_(None))
    elif wanted.rosh != ANY:
        clauses.append(Case.rosh == RoshLevel(wanted.rosh))
    if wanted.mappa == NONE:
        clauses.append(Case.mappa_category.is_(None))
    elif wanted.mappa == "eligible":
        clauses.append(Case.mappa_category.is_not(None))
    elif wanted.mappa != ANY:
        clauses.append(Case.mappa_level == int(wanted.mappa))
    if wanted.owner == ME:
        clauses.append(Case.owner_id == staff.id)
    elif wanted.owner == UNALLOCATED:
        clauses.append(Case.owner_id.is_(None))
    elif wanted.owner != ANY:
        clauses.append(Case.owner_id == int(wanted.owner))
    if wanted.critical:
        clauses.append(critical_few())
    clauses.extend(_search(wanted.search))
    return clauses


def _search(text: str) -> list[ColumnElement[bool]]:
    """A CRN (whole or its start), or words each starting the forename or surname, in any case."""
    text = text.strip()[:SEARCH_LIMIT]
    if not text:
        return []
    upper = text.upper()
    if CRN.match(upper):
        return [Case.crn == upper]
    if PARTIAL_CRN.match(upper):
        return [Case.crn.like(f"{upper}%")]
    clauses: list[ColumnElement[bool]] = []
    for word in text.lower().split():
        clauses.append(or_(_starts(Case.surname, word), _starts(Case.forename, word)))
    return clauses


def _starts(column: Any, word: str) -> ColumnElement[bool]:
    """`column` starts with `word` (lower case), as a range the lower(column) index can read."""
    lowered = func.lower(column)
    exact = lowered.like(_escape_like(word) + "%", escape="\\")
    if ord(word[-1]) >= sys.maxunicode:
        return exact
    return and_(lowered >= word, lowered < word[:-1] + chr(ord(word[-1]) + 1), exact)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Columns with a handful of values, in the order the list sorts them (lowest first): a page sorted by
# one of them is read band by band, each band in name order through the name index, rather than by
# sorting every visible case on a computed rank.
BANDS: dict[SortKey, tuple[Any, list[Any]]] = {
    SortKey.STAGE: (Case.stage, list(Stage)),
    SortKey.ROSH: (Case.rosh, [None, *RoshLevel]),
    SortKey.MAPPA: (Case.mappa_level, [None, 1, 2, 3]),
    SortKey.TIER: (Case.tier, [None, 1, 2, 3, 4]),
}
NAME_ORDER = (Case.surname, Case.forename, Case.crn, Case.id)


def _page_query(
    where: ColumnElement[bool], wanted: RegisterFilter, offset: int
) -> Select[Case, str | None, str | None]:
    """The page's cases with their owner's and team's names, in the order asked for.

    The page's ids are found first, in a query that walks an index past `offset` cases without
    reading their owners and teams; only the page's own cases are then read with those.
    """
    if wanted.sort in BANDS:
        bands = _banded(where, wanted, offset + PAGE_SIZE)
        ids = select(bands.c.id, bands.c.band).join(Case, Case.id == bands.c.id)
        ids = ids.order_by(bands.c.band, *_directed(NAME_ORDER, wanted.descending))
    else:
        sorting_owner = aliased(Staff)
        ids = select(Case.id, literal(0).label("band")).where(where)
        if wanted.sort is SortKey.OWNER:
            ids = ids.outerjoin(sorting_owner, sorting_owner.id == Case.owner_id)
        ids = ids.order_by(*_order(wanted, sorting_owner))
    page = ids.limit(PAGE_SIZE).offset(offset).subquery("page")
    owner, team = aliased(Staff), aliased(Team)
    order = (
        [page.c.band, *_directed(NAME_ORDER, wanted.descending)]
        if wanted.sort in BANDS
        else _order(wanted, owner)
    )
    return (
        select(Case, owner.display_name, team.name)
        .join(page, page.c.id == Case.id)
        .outerjoin(owner, owner.id == Case.owner_id)
        .outerjoin(team, team.id == Case.team_id)
        .order_by(*order)
    )


def _order(wanted: RegisterFilter, owner: Any) -> list[Any]:
    """The ORDER BY of a sort that is not by bands (`owner`: the owner's row, for the owner sort)."""
    keys = {SortKey.NAME: NAME_ORDER[:3], SortKey.CRN: (Case.crn,), SortKey.OWNER: (owner.display_name,)}
    return _directed([*keys[wanted.sort], Case.id], wanted.descending)


def _banded(where: ColumnElement[bool], wanted: RegisterFilter, enough: int) -> Any:
    """The first `enough` case ids of each band, numbered in the order the bands are shown."""
    column, values = BANDS[wanted.sort]
    if wanted.descending:
        values = list(reversed(values))
    parts = [
        select(Case.id, literal(number).label("band"))
        .where(where, column.is_(None) if value is None else column == value)
        .order_by(*_directed(NAME_ORDER, wanted.descending))
        .limit(enough)
        .subquery()
        for number, value in enumerate(values)
    ]
    return union_all(*(select(part.c.id, part.c.band) for part in parts)).subquery("bands")


def _directed(columns: Sequence[Any], descending: bool) -> list[Any]:
    return [c.desc() for c in columns] if descending else [c.asc() for c in columns]


# The default order of the list (surname, forename): an index lets a page of it be read without
# sorting every visible case.
Index("ix_case_record_name", Case.surname, Case.forename, Case.crn)
# A name search reads surnames and forenames from their start, in any case.
Index("ix_case_record_surname_lower", func.lower(Case.surname))
Index("ix_case_record_forename_lower", func.lower(Case.forename))
# visible_to asks whom a person line-manages on every list.
Index("ix_staff_line_manager_id", Staff.line_manager_id)
# The critical few in name order (the critical-few filter): read through the stored flag.
Index("ix_case_record_critical_name", Case.critical, Case.surname, Case.forename, Case.crn)
# A page sorted by RoSH reads each level's cases in name order.
Index("ix_case_record_rosh_name", Case.rosh, Case.surname, Case.forename, Case.crn)
