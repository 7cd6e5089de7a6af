"""The shapes the API takes and gives, as pydantic models: they check requests and describe the API.

Inputs refuse fields they do not know (a misspelt field is an error, not silently dropped). Text
that ends up in the database may not hold control characters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from casework.sentencing import CURRENT_OUTCOMES
from casework.vocabulary import MappaCategory, RoshLevel, SentenceOutcome, Stage

CRN = Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9]{6}$")]
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")]
# Free text: something besides spaces, and no control characters (tab and newlines are fine).
Text = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=2000,
        pattern=r"^[^\x00-\x08\x0e-\x1f]*[^\s\x00-\x08\x0e-\x1f][^\x00-\x08\x0e-\x1f]*$",
    ),
]
Key = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,255}$")]  # printable ASCII, no spaces


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------ cases


class FirstDetails(Input):
    """What the court tells probation when a case is identified (the first-details form)."""

    forename: Text
    surname: Text
    date_of_birth: date
    court_name: Text
    hearing_date: date
    offence: Text
    report_type: Literal["ORAL", "FAST", "STANDARD"] = Field(
        description="ORAL on the day; FAST delivery; STANDARD delivery."
    )
    remanded_in_custody: bool


class CaseCreate(Input):
    """A case identified at court: its CRN and first details."""

    crn: CRN
    first_details: FirstDetails


class CaseQuery(Input):
    """Filters for the case list."""

    stage: Stage | None = None
    rosh: RoshLevel | None = None
    owner: Username | None = Field(default=None, description="The Offender Manager's username.")
    open: bool | None = Field(default=None, description="true: open cases only; false: closed only.")
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class CaseOut(BaseModel):
    """A case on the register."""

    crn: str
    name: str | None
    stage: Stage
    sentence_outcome: SentenceOutcome | None
    sentence_date: date | None
    tier: int | None
    rosh: RoshLevel | None
    mappa_category: MappaCategory | None
    mappa_level: int | None
    owner: str | None = Field(description="The Offender Manager's name; null while unallocated.")
    owner_username: str | None
    team: str | None
    created_at: datetime
    closed_at: datetime | None


class CaseList(BaseModel):
    """Cases the caller may see, in CRN order."""

    cases: list[CaseOut]


class CaseCreated(BaseModel):
    """The case on the register and the process started for it."""

    case: CaseOut
    instance_id: int
    status: str
    task_ids: list[int] = Field(description="The tasks now open on the case (the first details to check).")


# ------------------------------------------------------------------------------ changes to a case


RegisterCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,6}$")]


class RegistrationIn(Input):
    """A registration (flag) to add to a case."""

    code: RegisterCode = Field(description="The nDelius register code, for example RCPR (child protection).")
    started_on: date | None = Field(default=None, description="When it started; today when left out.")
    notes: str = Field(default="", max_length=2000)


class RegistrationEnd(Input):
    """Why a registration no longer applies."""

    notes: Text


class RoshIn(Input):
    """The case's overall risk of serious harm from its latest assessment."""

    level: RoshLevel
    source: Text = Field(
        description="Where the level comes from, for example an OASys assessment and its date."
    )


class TransferIn(Input):
    """A request to move the case to another Offender Manager."""

    owner: Username = Field(description="The username of the Offender Manager the case should move to.")
    reason: Text


class MappaReferralIn(Input):
    """A referral of the case to MAPPA during the order."""

    reason: Text


class ChangeOut(BaseModel):
    """A change recorded on the case, and what its process made of it."""

    crn: str
    change: Literal[
        "registration_added", "registration_ended", "rosh_recorded", "transfer_requested", "mappa_referral"
    ]
    record_id: int | None = Field(description="The registration's id, for a registration; else null.")
    message_status: Literal["delivered", "stored", "unknown_case", "duplicate"] | None = Field(
        description="What became of the message that told the case's process; null when none was needed."
    )
    description: str


# --------------------------------------------------------------------------------------- messages


class MessageIn(Input):
    """A message from outside, matched to its case by the correlation value (the CRN)."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,99}$")] = Field(
        description="sentencing_outcome, oasys_assessment_completed or arrest_or_new_charge."
    )
    correlation_value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,100}$")] = Field(
        description="The CRN of the case the message is about."
    )
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "What the message says. sentencing_outcome: outcome (one of "
            + ", ".join(o.value for o in CURRENT_OUTCOMES)
            + "); sentence_date (YYYY-MM-DD, the hearing that gave the outcome); court (optional); "
            "end_date for a community order, suspended sentence order or conditional discharge (after the "
            "sentence date); custody_months for determinate custody (1-11 under 12 months, 12 or more "
            "otherwise; none for an indeterminate sentence); for custody of 12 months or more, extended and "
            "indeterminate sentences release_date (the end of the minimum term for an indeterminate one), "
            "release_type (AUTOMATIC or PAROLE_ELIGIBLE) and, except for life or IPP, licence_end_date; "
            "next_hearing_date for an adjournment or a "
            "deferment (still to come). A bad combination is refused with 422 and nothing is kept."
        ),
        json_schema_extra={
            "examples": [
                {"outcome": "COMMUNITY_ORDER", "sentence_date": "2026-11-09", "end_date": "2027-11-08"},
                {"outcome": "ADJOURNED", "sentence_date": "2026-11-09", "next_hearing_date": "2026-11-23"},
            ]
        },
    )
    idempotency_key: Key | None = Field(
        default=None, description="Send the same key again and the message is not applied twice."
    )


class MessageOut(BaseModel):
    """What became of the message."""

    status: Literal["delivered", "stored", "unknown_case", "duplicate"]
    message_id: int
    instance_id: int | None
    description: str


# ------------------------------------------------------------------------------------------ tasks


class TaskQuery(Input):
    """Filters for the task lists, and the page of each list (20 tasks a page, as in the inbox)."""

    crn: CRN | None = None
    page: int = Field(default=1, ge=1, le=10_000)


class TaskSummary(BaseModel):
    """A task as the inbox lists it."""

    id: int
    title: str
    crn: str
    name: str | None
    owner: str
    due_at: datetime | None
    due: Literal["overdue", "due soon", ""]
    rosh: str | None
    claimed_by_me: bool
    holder: str | None


class TaskLists(BaseModel):
    """The caller's tasks, the tasks they may claim, and for an SPO their team's."""

    mine: list[TaskSummary]
    to_claim: list[TaskSummary]
    team: list[TaskSummary] | None
    totals: dict[str, int]  # how many tasks each list holds in all ("mine", "to_claim", "team")
    pages: int  # the number of pages of the longest list


class TaskDetail(BaseModel):
    """One task with the JSON Schema its data must satisfy."""

    id: int
    title: str
    element_id: str
    crn: str
    instance_id: int
    state: str
    candidate_role: str | None
    assignee: str | None
    claimed_by: str | None
    due_at: datetime | None
    created_at: datetime
    form_schema: dict[str, Any] | None
    draft: dict[str, Any] | None


class TaskCompletion(Input):
    """The task's data, checked against its form schema."""

    data: dict[str, Any]


class StepOut(BaseModel):
    """Where the case's process stands after the step."""

    instance_id: int
    status: str
    task_ids: list[int]


class TaskActionOut(BaseModel):
    """The task after a claim or release."""

    id: int
    claimed_by: str | None


# ------------------------------------------------------------------------------------- instances


class InstanceQuery(Input):
    """Filters for the instance list."""

    status: (
        Literal["running", "waiting", "awaiting_people", "suspended", "error", "completed", "terminated"]
        | None
    ) = None
    crn: CRN | None = None
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class InstanceOut(BaseModel):
    """A process instance."""

    id: int
    process_id: str
    definition_id: int
    business_key: str
    status: str
    error: dict[str, Any] | None
    started_by: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    next_timer_at: datetime | None


class InstanceList(BaseModel):
    """Instances on cases the caller may see, newest first."""

    instances: list[InstanceOut]


class InstanceDetail(InstanceOut):
    """An instance with its open tasks."""

    open_tasks: list[TaskDetail]


class Reason(Input):
    """Why a manager acts: recorded on the case timeline."""

    reason: Text


class Reassignment(Input):
    """Move the case's open tasks held by one person to another (or back to the pool)."""

    from_username: Username
    to_username: Username | None = Field(description="null sends the tasks back to their role's pool.")
    reason: Text


class ReassignOut(BaseModel):
    """How many tasks moved."""

    moved: int


class DefinitionOut(BaseModel):
    """A deployed definition version."""

    id: int
    name: str
    version: int
    process_ids: list[str]
    deployed_at: datetime
    deployed_by: str
    note: str


class DefinitionList(BaseModel):
    """Every deployed definition version, by name then newest first."""

    definitions: list[DefinitionOut]
