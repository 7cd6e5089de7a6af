"""The register in the browser: the list of cases a person may see, and one case's record.

`/cases` is casework.case_list's page of the register (searched, filtered, sorted and paged in
SQL). `/cases/<crn>` shows a case only to someone casework.access.may_view lets see it: anyone else
gets the case's exclusion or restriction message when it is a limited-access case, and otherwise
the same "not found" page as a CRN that does not exist (not even the name is shown). Every view
and every refusal is written to the access log (webui.reads.log_read) in the transaction that
reads the case, and so is every case the list shows; when policy asks for a reason
(casework.access_log.reason_required) the record is shown only after the person gives one, and the
reason goes with each view into the log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from casework.access import may_change, may_manage_access_lists, may_view
from casework.access_log import (
    JUSTIFICATION_TITLES,
    AccessOutcome,
    CaseAccess,
    Justification,
    Purpose,
    reason_required,
)
from casework.case_list import (
    ALL_STAGES,
    ANY,
    ME,
    NONE,
    OPEN_STAGES,
    UNALLOCATED,
    RegisterFilter,
    SortKey,
    register_page,
)
from casework.models import AccessLimitation, Case, Staff, Team
from casework.register_types import FOLLOWS_A_LEVEL
from casework.vocabulary import CASE_HOLDING_GRADES, RoshLevel, Stage
from tasks import intake
from tasks.case_page import case_page
from webui import riskflow
from webui.auth import SignedInStaff
from webui.forms_render import answer_text
from webui.reads import log_read
from webui.routing import database_int

bp = Blueprint("cases", __name__)

CRN_LENGTH = 7
REASON_TEXT_LIMIT = 500
# A reason given for a case covers the rest of the working day (the length of a signed-in session).
REASON_LASTS = timedelta(hours=8)
MAPPA_CHOICES = {"eligible": "Any MAPPA level", "1": "Level 1", "2": "Level 2", "3": "Level 3"}


# ------------------------------------------------------------------------------- the list


def parse_filter(args: MultiDict[str, str]) -> tuple[RegisterFilter, dict[str, str]]:
    """The list the query string asks for, and a message for each value that cannot be used."""
    errors: dict[str, str] = {}

    def choice(name: str, allowed: set[str], default: str, message: str) -> str:
        value = args.get(name, default)
        if value not in allowed:
            errors[name] = message
            return default
        return value

    stage = choice(
        "stage",
        {OPEN_STAGES, ALL_STAGES, *(s.value for s in Stage)},
        OPEN_STAGES,
        "Choose a stage from the list",
    )
    rosh = choice(
        "rosh", {ANY, NONE, *(r.value for r in RoshLevel)}, ANY, "Choose a RoSH level from the list"
    )
    mappa = choice("mappa", {ANY, NONE, *MAPPA_CHOICES}, ANY, "Choose a MAPPA level from the list")
    owner = args.get("owner", ANY)
    if owner not in (ANY, ME, UNALLOCATED) and not _is_database_id(owner):
        errors["owner"] = "Choose an owner from the list"
        owner = ANY
    sort = choice("sort", {k.value for k in SortKey}, SortKey.NAME.value, "Choose a column to sort by")
    page_text = args.get("page", "1")
    page = int(page_text) if page_text.isascii() and page_text.isdigit() and 0 < len(page_text) < 7 else 1
    if page_text != str(page):
        errors["page"] = "The page must be a whole number, such as 2"
    return (
        RegisterFilter(
            search=args.get("q", "").strip()[:100],
            stage=stage,
            rosh=rosh,
            mappa=mappa,
            owner=owner,
            critical=args.get("critical") == "yes",
            sort=SortKey(sort),
            descending=args.get("order") == "desc",
            page=page,
        ),
        errors,
    )


def owner_choices(session: Session, staff: Staff) -> list[tuple[str, str]]:
    """The owners the filter offers: anyone, me, unallocated, and the case holders of my team."""
    choices = [(ANY, "Anyone"), (UNALLOCATED, "Not yet allocated")]
    if staff.grade in CASE_HOLDING_GRADES:
        choices.insert(1, (ME, "Me"))
    if staff.team_id is not None:
        team = session.scalars(
            select(Staff)
            .where(
                Staff.team_id == staff.team_id,
                Staff.active.is_(True),
                Staff.grade.in_(sorted(CASE_HOLDING_GRADES)),
            )
            .order_by(Staff.display_name, Staff.id)
        )
        choices += [(str(member.id), member.display_name) for member in team]
    return choices


@bp.get("/cases")
def register_list() -> str | tuple[str, int]:
    """The cases the signed-in person may see, searched, filtered, sorted and paged."""
    wanted, errors = parse_filter(request.args)
    with riskflow().db.transaction() as session:
        staff = _staff(session)
        page = register_page(session, staff, wanted)
        log_read(session, Purpose.REGISTER_LIST, [row.crn for row in page.rows])
        owners = owner_choices(session, staff)
    html = render_template(
        "cases/index.html",
        page=page,
        errors=errors,
        choices=_filter_choices(owners),
        list_url=_list_url,
        stage_name=stage_name,
        pages_around=pages_around,
        may_record=bool(current_user.roles & intake.RECORDING_ROLES),
    )
    return (html, 400) if errors else html


def _filter_choices(owners: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """The options of each filter, as (value, words) pairs."""
    return {
        "stage": [
            (OPEN_STAGES, "Any open stage"),
            *((s.value, stage_name(s)) for s in Stage),
            (ALL_STAGES, "Any stage, open or closed"),
        ],
        "rosh": [(ANY, "Any"), *((r.value, r.display_name) for r in RoshLevel), (NONE, "Not yet assessed")],
        "mappa": [(ANY, "Any"), *MAPPA_CHOICES.items(), (NONE, "Not MAPPA eligible")],
        "owner": owners,
    }


def _is_database_id(text: str) -> bool:
    try:
        return database_int(text) >= 0
    except ValueError:
        return False


def stage_name(stage: Stage) -> str:
    """A stage in words: "Awaiting sentence"."""
    return stage.value.replace("_", " ").capitalize()


def pages_around(page: int, pages: int) -> list[int | None]:
    """The page numbers to offer: the first, the last, and those next to this one (None: a gap)."""
    wanted = sorted({1, pages, *range(max(1, page - 1), min(pages, page + 1) + 1)})
    numbers: list[int | None] = []
    for number in wanted:
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def _list_url(wanted: RegisterFilter, **changes: Any) -> str:
    """The address of the list with `wanted`'s filters and some of them changed (for sort and pages)."""
    args: dict[str, Any] = {
        "q": wanted.search or None,
        "stage": wanted.stage if wanted.stage != OPEN_STAGES else None,
        "rosh": wanted.rosh or None,
        "mappa": wanted.mappa or None,
        "owner": wanted.owner or None,
        "critical": "yes" if wanted.critical else None,
        "sort": wanted.sort.value if wanted.sort is not SortKey.NAME else None,
        "order": "desc" if wanted.descending else None,
        "page": wanted.page if wanted.page > 1 else None,
    }
    args.update(changes)
    return url_for("cases.register_list", **{k: v for k, v in args.items() if v not in (None, "")})


# ----------------------------------------------------------------------------- the record


@bp.get("/cases/<crn>")
def record(crn: str) -> str | tuple[str, int]:
    """One case's record, for someone entitled to see it (and who has given a reason when asked)."""
    crn = crn.strip().upper()[:CRN_LENGTH]
    shared = riskflow()
    user: SignedInStaff = current_user
    now = shared.clock.now()
    with shared.db.transaction() as session:
        staff = _staff(session)
        case = _case(session, crn)
        if case is None:
            return _not_found(crn)
        decision = may_view(staff, case)
        if not decision:
            log_read(
                session, Purpose.CASE_RECORD, [case], basis=decision.reason, outcome=AccessOutcome.REFUSED
            )
            if decision.message:
                return render_template("cases/limited.html", crn=crn, message=decision.message), 403
            return _not_found(crn)
        why = reason_required(staff, case)
        given = _reason_given(session, user, case, now) if why else None
        if why and given is None:
            return render_template(
                "cases/reason.html", crn=crn, why=why, choices=JUSTIFICATION_TITLES, errors={}, form={}
            )
        log_read(session, Purpose.CASE_RECORD, [case], basis=decision.reason, **_given_reason(given))
        shown = case_page(session, shared.engine, case, now, answer_words=answer_text)
        return render_template(
            "cases/record.html",
            record=shown.record,
            basis=decision.reason,
            reason=given,
            reason_title=_reason_title(given),
            stage_name=stage_name,
            tasks=shown.tasks,
            can_change=case.is_open and bool(may_change(staff, case)),
            can_manage_access=bool(may_manage_access_lists(staff, case)),
            not_by_hand=FOLLOWS_A_LEVEL,
            timeline=shown.timeline,
            timeline_capped=shown.timeline_capped,
            now=now,
        )


@bp.post("/cases/<crn>/reason")
def give_reason(crn: str) -> Response | str | tuple[str, int]:
    """Record why the person needs to open the case, then show it."""
    crn = crn.strip().upper()[:CRN_LENGTH]
    shared = riskflow()
    code = request.form.get("justification", "")
    text = request.form.get("details", "").strip()
    errors: dict[str, str] = {}
    if code not in {j.value for j in Justification}:
        errors["justification"] = "Choose why you need to open this case"
    if not text:
        errors["details"] = "Say what you need the case for"
    elif len(text) > REASON_TEXT_LIMIT:
        errors["details"] = f"The details must be {REASON_TEXT_LIMIT} characters or fewer"
    with shared.db.transaction() as session:
        staff = _staff(session)
        case = _case(session, crn)
        if case is None:
            return _not_found(crn)
        decision = may_view(staff, case)
        why = reason_required(staff, case)
        if not decision or why is None:
            # Nothing to justify (or nothing they may see): the record page says which.
            return redirect(url_for("cases.record", crn=crn))
        if errors:
            form = {"justification": code, "details": text[:REASON_TEXT_LIMIT]}
            page = render_template(
                "cases/reason.html", crn=crn, why=why, choices=JUSTIFICATION_TITLES, errors=errors, form=form
            )
            return page, 400
        log_read(
            session,
            Purpose.CASE_RECORD,
            [case],
            basis=decision.reason,
            outcome=AccessOutcome.REASON_GIVEN,
            justification=Justification(code),
            justification_text=text,
        )
    return redirect(url_for("cases.record", crn=crn))


# ------------------------------------------------------------------------------- internals


def _staff(session: Session) -> Staff:
    staff = session.get(Staff, current_user.staff_id)
    assert staff is not None  # noqa: S101 - the sign-in gate loaded them a moment ago
    return staff


def _case(session: Session, crn: str) -> Case | None:
    return session.scalar(
        select(Case)
        .where(Case.crn == crn)
        .options(
            joinedload(Case.owner),
            joinedload(Case.team).joinedload(Team.spo),
            joinedload(Case.access_limitation).selectinload(AccessLimitation.entries),
            selectinload(Case.registrations),
        )
    )


def _not_found(crn: str) -> tuple[str, int]:
    return render_template("cases/not_found.html", crn=crn), 404


def _given_reason(given: CaseAccess | None) -> dict[str, Any]:
    """The reason a view is logged with: the one given earlier, if policy asked for one."""
    if given is None or given.justification is None:
        return {}
    return {
        "justification": Justification(given.justification),
        "justification_text": given.justification_text,
    }


def _reason_given(session: Session, user: SignedInStaff, case: Case, now: datetime) -> CaseAccess | None:
    """The reason this person gave for this case within REASON_LASTS, if any (a view logged with it
    does not extend it)."""
    return session.scalar(
        select(CaseAccess)
        .where(
            CaseAccess.case_id == case.id,
            CaseAccess.at >= now - REASON_LASTS,
            CaseAccess.username == user.username,
            CaseAccess.outcome == AccessOutcome.REASON_GIVEN.value,
        )
        .order_by(CaseAccess.at.desc(), CaseAccess.id.desc())
        .limit(1)
    )


def _reason_title(given: CaseAccess | None) -> str | None:
    if given is None or given.justification is None:
        return None
    return Justification(given.justification).display_name
