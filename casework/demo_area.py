"""A deterministic synthetic probation area, Cumbria-like, c.2008 (domain.md 5.2-5.4): about 150 staff
and 1,900 cases with realistic distributions and the data-quality faults of the "before" state.

Everything is fictional: names come from the lists below and are combined at random, CRNs are random
`[A-Z][0-9]{6}`, offices are made up, dates of birth are synthetic. The same seed and scale always give
the same area. Cases are written through casework.register, so each one has its timeline; the
faults the case study describes are then seeded on purpose: registrations overdue for review (15%),
"zombie" registrations left active on closed cases (about 5%), cases whose recorded owner is not
the officer doing the contacts (8%), sentenced cases left unallocated (5%), oversight plans past due.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casework import register, sentencing
from casework.critical_few import RiskProfile, assess
from casework.models import Case, CaseEvent, OversightPlan, Registration, Staff, Team
from casework.vocabulary import (
    HIGH_ROSH,
    QUALIFIED_OFFICER_GRADES,
    ExperienceBand,
    Grade,
    MappaCategory,
    RoshLevel,
    SentenceOutcome,
    Stage,
)

# The data reference date of the period (the end of the 2007/08 year).
AS_OF = datetime(2008, 3, 31, 9, 0, tzinfo=UTC)
SYSTEM = "demo.generator"

FORENAMES = (  # noqa: SIM905 - a list of words reads better as words
    "Alder Bryony Caspian Delphine Ellery Fenella Garrick Hester Ivo Jessamy Kester Linnet Merrick Nerys "
    "Orrin Perpetua Quillon Rosamund Sorrel Tamsin Ulric Verity Wystan Xanthe Yorick Zelah Ambrose Clemency "
    "Dashiell Elowen Fabian Gwendolen Hamish Isolde Jago Kerensa Leander Morwen Noll Oriel Piran Roswitha "
    "Saffron Tristram Una Vane Wenna Benedick Cordelia Emrys"
).split()
SURNAMES = (  # noqa: SIM905
    "Ashgrove Blackthwaite Calderbank Dunmallet Eskrigg Fellgate Gillerthwaite Harrowfield Ingleby Jeffcote "
    "Kelderby Lowthwaite Mardale Netherby Orgrave Pennycross Quarrendon Rothery Scaleby Thackwray Ullock "
    "Vardy Wasdell Yewdale Allonby Brackenrigg Crosscanonby Dovenby Embleton Fothergill Greysouthen Hutton "
    "Ireby Kirkbride Lamplugh Mockerkin Nethertown Ousby Plumbland Ravenglass Sebergham Threlkeld Uldale "
    "Waverton Whinfell Bassenthwaite Caldbeck Dearham Eaglesfield Gilcrux"
).split()

DISTRICTS = {
    "North": ("Solway Court", "Eden Bridge House", "Fellside Chambers"),
    "West": ("Harbour View", "Beacon House"),
    "South": ("Lakeland Row", "Kentmere House"),
}

# Case-holding Offender Managers per grade, their typical caseload, and the other staff (domain.md 5.2).
CASE_HOLDERS = {Grade.PO: 26, Grade.PSO: 20, Grade.TRAINEE_PO: 4, Grade.SENIOR_PRACTITIONER: 2}
CAPACITY = {Grade.PO: 34, Grade.PSO: 40, Grade.TRAINEE_PO: 17, Grade.SENIOR_PRACTITIONER: 30}
OTHER_OFFICERS = {Grade.PO: 16, Grade.PSO: 27, Grade.TRAINEE_PO: 5}
CASE_TEAMS = 9
SPECIALIST_TEAMS = ("Courts", "Programmes", "Unpaid Work")
ADMINS, ACOS, RISK_CONSULTANTS, MAPPA_COORDINATORS = 35, 3, 2, 1

ROSH_MIX = {RoshLevel.LOW: 30, RoshLevel.MEDIUM: 60, RoshLevel.HIGH: 9, RoshLevel.VERY_HIGH: 1}
# Tier by RoSH, so that the area as a whole is near T1 25%, T2 30%, T3 26%, T4 19%.
TIER_BY_ROSH = {
    RoshLevel.LOW: {1: 55, 2: 40, 3: 5},
    RoshLevel.MEDIUM: {1: 10, 2: 35, 3: 35, 4: 20},
    RoshLevel.HIGH: {3: 40, 4: 60},
    RoshLevel.VERY_HIGH: {4: 100},
}
# Outcomes of the cases that reach court with a pre-sentence report, per 100 [A: assumed; domain.md
# gives only the community part of the caseload (community order 63%, SSO 17%), so community orders and
# suspended sentence orders are given in that ratio, about 3.7 to 1]: most get a community order, a
# suspended sentence or custody; some are fined or discharged, adjourned or deferred first, or
# acquitted. The simulated court (tasks.simulation) gives these.
OUTCOME_MIX = {
    SentenceOutcome.COMMUNITY_ORDER: 43,
    SentenceOutcome.SUSPENDED_SENTENCE: 11,
    SentenceOutcome.CUSTODY_12_MONTHS_OR_MORE: 12,
    SentenceOutcome.CUSTODY_UNDER_12_MONTHS: 10,
    SentenceOutcome.CUSTODY_EXTENDED: 1,
    SentenceOutcome.CUSTODY_INDETERMINATE: 1,
    SentenceOutcome.FINE: 6,
    SentenceOutcome.CONDITIONAL_DISCHARGE: 4,
    SentenceOutcome.ABSOLUTE_DISCHARGE: 1,
    SentenceOutcome.ADJOURNED: 6,
    SentenceOutcome.DEFERRED: 1,
    SentenceOutcome.ACQUITTED: 2,
    SentenceOutcome.DISMISSED: 1,
    SentenceOutcome.WITHDRAWN: 1,
}
# How long each outcome runs, in months, per 100 of that outcome [A: assumed; domain.md gives no
# lengths]: within the period's legal limits (casework.sentencing). A community order runs 6 months to
# 3 years, a suspended sentence order's supervision 6 months to 2 years, a conditional discharge up to
# 3 years; custody under 12 months has no licence; custody of 12 months or more is released at the
# halfway point on licence to the end of the sentence (so a 12- or 18-month sentence given in the
# demo's first months is released, and its licence may end, while the demo's clock runs).
ORDER_MONTHS: dict[SentenceOutcome, dict[int, int]] = {
    SentenceOutcome.COMMUNITY_ORDER: {6: 10, 12: 45, 18: 20, 24: 20, 36: 5},
    SentenceOutcome.SUSPENDED_SENTENCE: {6: 10, 12: 50, 18: 15, 24: 25},
    SentenceOutcome.CONDITIONAL_DISCHARGE: {6: 10, 12: 50, 24: 30, 36: 10},
    SentenceOutcome.CUSTODY_UNDER_12_MONTHS: {2: 15, 3: 20, 4: 20, 6: 25, 8: 10, 10: 10},
    SentenceOutcome.CUSTODY_12_MONTHS_OR_MORE: {12: 25, 18: 20, 24: 20, 30: 10, 36: 10, 48: 10, 72: 5},
    # The custodial term of an extended sentence; its licence runs on for the extension period.
    SentenceOutcome.CUSTODY_EXTENDED: {24: 30, 36: 30, 48: 25, 72: 15},
    # The minimum term (tariff) of a life sentence or IPP, to the first parole review.
    SentenceOutcome.CUSTODY_INDETERMINATE: {18: 15, 24: 25, 36: 25, 48: 20, 72: 15},
}
EXTENSION_MONTHS_MIX = {12: 30, 24: 30, 36: 25, 60: 15}  # [A] an extended sentence's extension period
# The main offence at the first hearing, per 100 cases [A: assumed; domain.md gives no offence
# figures: shares in the spirit of the period's statistics of people starting court orders, led by
# theft, motoring, violence, drugs and criminal damage].
OFFENCE_MIX = {
    "Theft from a shop": 12,
    "Theft, or handling stolen goods": 8,
    "Burglary of a dwelling": 4,
    "Burglary other than of a dwelling": 3,
    "Fraud or forgery": 4,
    "Criminal damage": 5,
    "Possession of a controlled drug": 4,
    "Possession of a controlled drug with intent to supply": 4,
    "Assault occasioning actual bodily harm": 8,
    "Common assault": 6,
    "Wounding or inflicting grievous bodily harm (s.20)": 2,
    "Affray": 2,
    "Possession of a bladed article in a public place": 2,
    "Harassment": 2,
    "Threatening behaviour (Public Order Act s.4)": 4,
    "Driving with excess alcohol": 10,
    "Driving while disqualified": 5,
    "Dangerous driving": 2,
    "Breach of a court order": 4,
    "Other offence": 9,
}
# The offences behind an extended or indeterminate sentence (a specified violent or sexual offence,
# CJA 2003 Sch.15) and behind MAPPA category 2; MAPPA category 1 is a registered sex offender
# [A: the shares within each list].
VIOLENT_OFFENCES = {
    "Wounding with intent to cause grievous bodily harm (s.18)": 25,
    "Wounding or inflicting grievous bodily harm (s.20)": 25,
    "Assault occasioning actual bodily harm": 30,
    "Robbery": 20,
}
SEXUAL_OFFENCES = {"Sexual assault": 45, "Making indecent images of children": 35, "Rape": 20}
SPECIFIED_OFFENCES = frozenset({*VIOLENT_OFFENCES, *SEXUAL_OFFENCES})


def offence_for(rng: random.Random, outcome: SentenceOutcome, mappa_category: str) -> str:
    """A case's main offence as the court list gives it: a sexual offence for MAPPA category 1, a
    specified violent or sexual offence for category 2 and for an extended or indeterminate sentence,
    else one of the area's mix."""
    if mappa_category == "CAT1":
        return pick(rng, SEXUAL_OFFENCES)
    if mappa_category == "CAT2" or outcome in (
        SentenceOutcome.CUSTODY_EXTENDED,
        SentenceOutcome.CUSTODY_INDETERMINATE,
    ):
        return pick(rng, VIOLENT_OFFENCES if rng.random() < 0.8 else SEXUAL_OFFENCES)
    return pick(rng, OFFENCE_MIX)


# The cases already under supervision in the generated area were sentenced to what is supervised
# [A: in the proportions above].
SUPERVISED_OUTCOME_MIX = {
    SentenceOutcome.COMMUNITY_ORDER: 40,
    SentenceOutcome.SUSPENDED_SENTENCE: 14,
    SentenceOutcome.CUSTODY_12_MONTHS_OR_MORE: 12,
    SentenceOutcome.CUSTODY_EXTENDED: 1,
    SentenceOutcome.CUSTODY_INDETERMINATE: 1,
}
STAGE_MIX = {
    Stage.IDENTIFIED: 4,
    Stage.AWAITING_SENTENCE: 4,
    Stage.SENTENCED: 5,
    Stage.ALLOCATED: 6,
    Stage.SUPERVISED: 74,
    Stage.CLOSED: 7,
}
# Share of open cases with each register active (domain.md 5.3); ARSO comes with MAPPA category 1.
REGISTER_PREVALENCE = {
    "ADVP": 20.0,
    "REG30": 10.0,
    "RCCO": 8.0,
    "RCPR": 4.0,
    "RCHD": 3.0,
    "ALSH": 10.0,
    "AMHL": 12.0,
    "RMDO": 2.0,
    "AV2S": 3.0,
    "WEAP": 3.0,
    "IMAR": 4.0,
    "INVI": 8.0,
    "APPO": 4.0,
    "IIOM": 6.0,
    "IRMO": 1.0,
    "INLL": 1.0,
    "RSTO": 4.0,
    "RPIR": 0.5,
    "ASFO": 0.3,
}
# High-risk cases carry these more often (x1.5): the registrations that make high RoSH critical.
RISK_LINKED_REGISTERS = frozenset({"ADVP", "RCPR", "RCHD", "IMAR", "AV2S", "WEAP"})
AGE_BANDS = {(18, 20): 12, (21, 24): 18, (25, 40): 45, (41, 70): 25}
OVERDUE_REVIEW_SHARE = 0.15
CARELESS_CLOSURE_SHARE = 0.7  # closed cases whose registrations were left active (zombies)
OWNER_MISMATCH_SHARE = 0.08
OVERSIGHT_OVERDUE_SHARE = 0.12


@dataclass
class AreaSummary:
    """What was generated, for printing and checking."""

    staff: Counter[str] = field(default_factory=Counter)
    cases: Counter[str] = field(default_factory=Counter)
    rosh: Counter[str] = field(default_factory=Counter)
    tiers: Counter[int] = field(default_factory=Counter)
    mappa_levels: Counter[int] = field(default_factory=Counter)
    registrations: int = 0
    overdue_reviews: int = 0
    zombie_registrations: int = 0
    owner_mismatches: int = 0
    critical: int = 0

    @property
    def open_cases(self) -> int:
        """Cases not closed."""
        return sum(n for stage, n in self.cases.items() if stage != Stage.CLOSED)


def generate_area(
    session: Session, seed: int = 2008, scale: float = 1.0, *, as_of: datetime = AS_OF, cases: bool = True
) -> AreaSummary:
    """Build the synthetic area in `session` (the caller commits); a seed and scale give one area, always.

    With `cases=False` only the staff and teams are written: the cases then come from running the
    real process (tasks.simulation), as the demo deployment does."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, repeatable on purpose; nothing secret
    return _Generator(session, rng, scale, as_of).run(cases=cases)


class _Generator:
    def __init__(self, session: Session, rng: random.Random, scale: float, as_of: datetime) -> None:
        self.session, self.rng, self.scale, self.as_of = session, rng, scale, as_of
        self.summary = AreaSummary()
        self.used_names: set[str] = set()
        self.used_crns: set[str] = set()
        self.offenders_managers: list[Staff] = []
        self.load: Counter[int] = Counter()

    def run(self, *, cases: bool = True) -> AreaSummary:
        self._staff()
        if not cases:
            return self.summary
        for _ in range(max(1, round(1900 * self.scale))):
            self._case()
        self.session.flush()
        self._review_dates()
        self.summary.critical = sum(
            assess(RiskProfile.of(case)).critical
            for case in self.session.scalars(
                select(Case).where(Case.closed_at.is_(None)).options(selectinload(Case.registrations))
            )
        )
        return self.summary

    # ------------------------------------------------------------------------------- staff

    def _staff(self) -> None:
        acos = [self._person(Grade.ACO, None, None) for _ in range(ACOS)]
        for _ in range(RISK_CONSULTANTS):
            self._person(Grade.RISK_CONSULTANT, None, acos[-1])
        for _ in range(MAPPA_COORDINATORS):
            self._person(Grade.MAPPA_COORDINATOR, None, acos[-1])
        offices = [(d, o) for d, names in DISTRICTS.items() for o in names]
        teams = [
            self._team(f"CM{i + 1}", "Case Management", *offices[i % len(offices)]) for i in range(CASE_TEAMS)
        ]
        specialist = [
            self._team(name[:3].upper(), name, *offices[i]) for i, name in enumerate(SPECIALIST_TEAMS)
        ]
        districts = list(DISTRICTS)
        for team in [*teams, *specialist]:
            team.spo = self._person(Grade.SPO, team, acos[districts.index(team.district)])
        # The staff are the area's whatever the scale: a smaller scale only means fewer cases.
        holders = [g for g, n in CASE_HOLDERS.items() for _ in range(n)]
        bands = self._bands(holders)
        for i, (grade, band) in enumerate(zip(holders, bands, strict=True)):
            team = teams[i % len(teams)]
            self.offenders_managers.append(self._person(grade, team, team.spo, band))
        for grade, count in OTHER_OFFICERS.items():
            for i in range(count):
                team = specialist[i % len(specialist)]
                self._person(grade, team, team.spo, self._band_for(grade))
        for i in range(ADMINS):
            team = [*teams, *specialist][i % (len(teams) + len(specialist))]
            self._person(Grade.CASE_ADMIN, team, team.spo)
        acos[0].extra_roles = ["PROCESS_OWNER"]
        self.session.flush()

    def _bands(self, grades: Sequence[Grade]) -> list[ExperienceBand]:
        """Experience bands near N 20%, E 70%, S 10%: trainees are N, senior practitioners S."""
        n_target, s_target = round(0.2 * len(grades)), round(0.1 * len(grades))
        bands = [self._band_for(g) for g in grades]
        others = [i for i, g in enumerate(grades) if g in (Grade.PO, Grade.PSO)]
        self.rng.shuffle(others)
        need_n = max(0, n_target - bands.count(ExperienceBand.NEWLY_QUALIFIED))
        need_s = max(0, s_target - bands.count(ExperienceBand.SENIOR))
        for i in others[:need_n]:
            bands[i] = ExperienceBand.NEWLY_QUALIFIED
        for i in [j for j in others[need_n:] if grades[j] == Grade.PO][:need_s]:
            bands[i] = ExperienceBand.SENIOR
        return bands

    @staticmethod
    def _band_for(grade: Grade) -> ExperienceBand:
        if grade == Grade.TRAINEE_PO:
            return ExperienceBand.NEWLY_QUALIFIED
        if grade == Grade.SENIOR_PRACTITIONER:
            return ExperienceBand.SENIOR
        return ExperienceBand.EXPERIENCED

    def _team(self, code: str, name: str, district: str, office: str) -> Team:
        title = f"{district} {name} {code[-1]}" if name == "Case Management" else name
        team = Team(code=code, name=title, office=office, district=district)
        self.session.add(team)
        return team

    def _person(
        self, grade: Grade, team: Team | None, manager: Staff | None, band: ExperienceBand | None = None
    ) -> Staff:
        forename, surname = self._name()
        username = f"{forename}.{surname}".lower()
        years = (
            (0, 1)
            if band == ExperienceBand.NEWLY_QUALIFIED
            else (8, 20)
            if band == ExperienceBand.SENIOR
            else (2, 15)
        )
        started = (self.as_of - timedelta(days=self.rng.randint(years[0] * 365 + 30, years[1] * 365))).date()
        staff = Staff(
            username=username,
            display_name=f"{forename} {surname}",
            grade=grade,
            team=team,
            line_manager=manager,
            experience=band,
            started_on=started,
            # Qualified officers joined qualified; a senior practitioner's post began 3 years in.
            qualified_on=started if grade in (Grade.PO, Grade.SENIOR_PRACTITIONER) else None,
            senior_practitioner_since=started + timedelta(days=3 * 365)
            if band == ExperienceBand.SENIOR and grade in (Grade.PO, Grade.SENIOR_PRACTITIONER)
            else None,
            active=True,
            extra_roles=[],
        )
        self.session.add(staff)
        self.summary.staff[grade.value] += 1
        return staff

    def _name(self) -> tuple[str, str]:
        while True:
            forename, surname = self.rng.choice(FORENAMES), self.rng.choice(SURNAMES)
            if f"{forename} {surname}" not in self.used_names:
                self.used_names.add(f"{forename} {surname}")
                return forename, surname

    # ------------------------------------------------------------------------------- cases

    def _case(self) -> None:
        rng, s = self.rng, self.session
        stage = pick(rng, STAGE_MIX)
        crn = self._crn()
        sentenced_on = self._sentence_date(stage)
        identified = (
            self._at(sentenced_on - timedelta(days=rng.randint(10, 40))) if sentenced_on else self._recent()
        )
        forename, surname = rng.choice(FORENAMES), rng.choice(SURNAMES)
        case = register.identify_case(s, crn, at=identified, by=SYSTEM, forename=forename, surname=surname)
        case.date_of_birth = self._birth_date()
        self.summary.cases[stage.value] += 1
        if stage == Stage.IDENTIFIED:
            return
        screened = min(identified + timedelta(days=rng.randint(1, 9)), self.as_of - timedelta(hours=1))
        rosh = pick(rng, ROSH_MIX)
        register.mark_awaiting_sentence(s, crn, at=screened, by=SYSTEM)
        register.record_rosh(s, crn, rosh, at=screened, by=SYSTEM, source="pre-sentence report screening")
        self._mappa(crn, rosh, screened)
        self._registrations(crn, rosh, screened)
        self.summary.rosh[rosh.value] += 1
        if stage == Stage.AWAITING_SENTENCE or sentenced_on is None:
            return
        sentenced_at = self._at(sentenced_on)
        outcome = pick(rng, SUPERVISED_OUTCOME_MIX)
        record = sentencing.check_outcome(
            sentencing.needs_of(outcome, sentenced_on, months=rng.choice((6, 12, 12, 18, 24)))
        )
        sentencing.record_outcome(s, case, record, at=sentenced_at, by=SYSTEM)
        self._risk_meeting(case, sentenced_at)
        tier = pick(rng, TIER_BY_ROSH[rosh])
        register.record_tier(s, crn, tier, at=sentenced_at, by=SYSTEM)
        self.summary.tiers[tier] += 1
        if stage == Stage.SENTENCED:
            return
        owner = self._allocate(case, sentenced_at + timedelta(days=rng.randint(1, 3)))
        if stage == Stage.ALLOCATED:
            return
        self._oversight(case, sentenced_at + timedelta(days=rng.randint(20, 35)))
        self._contacts(case, owner)
        if stage == Stage.CLOSED:
            self._close(case)

    def _crn(self) -> str:
        while True:
            crn = f"{chr(self.rng.randint(65, 90))}{self.rng.randint(0, 999_999):06d}"
            if crn not in self.used_crns:
                self.used_crns.add(crn)
                return crn

    def _sentence_date(self, stage: Stage) -> date | None:
        if stage in (Stage.IDENTIFIED, Stage.AWAITING_SENTENCE):
            return None
        days = {
            Stage.SENTENCED: (5, 20),  # left unallocated beyond 3 working days: a seeded fault
            Stage.ALLOCATED: (4, 25),
            Stage.SUPERVISED: (40, 3 * 365),
            Stage.CLOSED: (365, 3 * 365),
        }[stage]
        return (self.as_of - timedelta(days=self.rng.randint(*days))).date()

    def _recent(self) -> datetime:
        return self.as_of - timedelta(days=self.rng.randint(1, 20), hours=self.rng.randint(0, 6))

    def _at(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, self.rng.randint(9, 16), tzinfo=UTC)

    def _birth_date(self) -> date:
        low, high = pick(self.rng, AGE_BANDS)
        return (self.as_of - timedelta(days=self.rng.randint(low * 365 + 1, high * 365 + 364))).date()

    def _mappa(self, crn: str, rosh: RoshLevel, at: datetime) -> None:
        high = rosh in HIGH_ROSH
        if self.rng.random() >= (0.40 if high else 0.09):
            return
        category = pick(self.rng, {MappaCategory.CAT1: 50, MappaCategory.CAT2: 65, MappaCategory.CAT3: 5})
        level = pick(self.rng, {1: 60, 2: 33, 3: 7} if high else {1: 96, 2: 4})
        register.record_mappa(self.session, crn, category, level, at=at, by=SYSTEM)
        if category == MappaCategory.CAT1:
            self._add_registration(crn, "ARSO", at)
        self.summary.mappa_levels[level] += 1

    def _registrations(self, crn: str, rosh: RoshLevel, at: datetime) -> None:
        for code, share in REGISTER_PREVALENCE.items():
            linked = rosh in HIGH_ROSH and code in RISK_LINKED_REGISTERS
            if self.rng.random() * 100 < share * (1.5 if linked else 1.0):
                self._add_registration(crn, code, at)

    def _add_registration(self, crn: str, code: str, at: datetime) -> None:
        started = at - timedelta(days=self.rng.randint(0, 400))
        register.add_registration(self.session, crn, code, at=at, by=SYSTEM, started_on=started.date())

    def _set_review_date(self, registration: Registration) -> None:
        """15% overdue for review (a seeded fault); the rest due within their review period."""
        if registration.next_review_on is None:
            return
        today = self.as_of.date()
        if self.rng.random() < OVERDUE_REVIEW_SHARE:
            registration.next_review_on = today - timedelta(days=self.rng.randint(1, 120))
        else:
            period = (registration.next_review_on - registration.started_on).days
            registration.next_review_on = today + timedelta(days=self.rng.randint(1, max(2, period)))

    def _risk_meeting(self, case: Case, sentenced_at: datetime) -> None:
        codes = {r.code for r in case.active_registrations()}
        in_scope = (
            case.rosh in HIGH_ROSH
            or case.mappa_category in (MappaCategory.CAT1, MappaCategory.CAT2)
            or bool(codes & {"RCPR", "RCHD", "ADVP", "AV2S", "WEAP"})
        )
        if not in_scope:
            return
        held = sentenced_at + timedelta(days=self.rng.randint(1, 6))
        register.record_risk_meeting(
            self.session,
            case.crn,
            held_on=held.date(),
            chair=SYSTEM,
            decision="Manage under the risk management plan; information shared with the police.",
            attendees=["SPO", "OFFENDER_MANAGER", *(["RISK_CONSULTANT"] if case.rosh in HIGH_ROSH else [])],
            rosh_agreed=case.rosh,
            information_shared_with=["POLICE"],
            mappa_referral=(case.mappa_level or 0) >= 2,
            at=held,
            by=SYSTEM,
        )

    def _allocate(self, case: Case, at: datetime) -> Staff:
        """The least-loaded Offender Manager the register accepts for the case's risk."""
        needs_officer = case.rosh in HIGH_ROSH or (case.mappa_level or 0) >= 2 or case.tier == 4
        eligible = [
            om for om in self.offenders_managers if not needs_officer or om.grade in QUALIFIED_OFFICER_GRADES
        ]
        owner = min(eligible, key=lambda om: (self.load[om.id] / CAPACITY[om.grade], self.rng.random()))
        self.load[owner.id] += 1
        register.assign_owner(self.session, case.crn, owner.username, at=at, by=SYSTEM, reason="allocation")
        return owner

    def _oversight(self, case: Case, at: datetime) -> None:
        weeks, grade, reason, sampled = _oversight_terms(case)
        plan: OversightPlan = register.set_oversight_plan(
            self.session,
            case.crn,
            interval_weeks=weeks,
            reviewer_grade=grade,
            reason=reason,
            sampled=sampled,
            at=at,
            by=SYSTEM,
        )
        interval = timedelta(weeks=weeks)
        if self.rng.random() < OVERSIGHT_OVERDUE_SHARE:
            plan.next_review_due = self.as_of - timedelta(days=self.rng.randint(1, 60))
        else:
            plan.next_review_due = self.as_of + timedelta(
                seconds=self.rng.random() * interval.total_seconds()
            )

    def _contacts(self, case: Case, owner: Staff) -> None:
        """Recent supervision contacts; in 8% of cases by someone other than the recorded owner."""
        by = owner
        if self.rng.random() < OWNER_MISMATCH_SHARE:
            colleagues = [
                om for om in self.offenders_managers if om.team_id == owner.team_id and om.id != owner.id
            ]
            if colleagues:
                by = self.rng.choice(colleagues)
                self.summary.owner_mismatches += 1
        for _ in range(self.rng.randint(1, 3)):
            self.session.add(
                CaseEvent(
                    case_id=case.id,
                    at=self.as_of - timedelta(days=self.rng.randint(1, 28), hours=self.rng.randint(0, 6)),
                    kind="supervision_contact",
                    code=None,
                    summary="Office appointment: attended and complied",
                    actor=by.username,
                    detail={"outcome": "ATTENDED"},
                )
            )

    def _close(self, case: Case) -> None:
        closed_at = self.as_of - timedelta(days=self.rng.randint(5, 180))
        careless = self.rng.random() < CARELESS_CLOSURE_SHARE
        register.close_case(
            self.session,
            case.crn,
            at=closed_at,
            by=SYSTEM,
            reason="order completed",
            end_registrations=not careless,
        )

    def _review_dates(self) -> None:
        """Give every registration in force its next review date, then count what was seeded."""
        today = self.as_of.date()
        rows = self.session.execute(
            select(Registration, Case.closed_at)
            .join(Case, Registration.case_id == Case.id)
            .where(Registration.deregistered_at.is_(None))
            .order_by(Registration.id)
        )
        for registration, closed_at in rows:
            self._set_review_date(registration)
            self.summary.registrations += 1
            if closed_at is not None:
                self.summary.zombie_registrations += 1
            elif registration.next_review_on is not None and registration.next_review_on < today:
                self.summary.overdue_reviews += 1


def _oversight_terms(case: Case) -> tuple[int, Grade, str, bool]:
    """The proposed oversight matrix (domain.md 3.4), to seed plans; the process uses its decision table."""
    band = case.owner.experience if case.owner and case.owner.experience else ExperienceBand.EXPERIENCED
    n, s = band == ExperienceBand.NEWLY_QUALIFIED, band == ExperienceBand.SENIOR
    codes = {r.code for r in case.active_registrations()}
    level = case.mappa_level or 0
    if case.rosh == RoshLevel.VERY_HIGH or level == 3:
        return (2 if n else 4), Grade.ACO, "very high RoSH or MAPPA level 3", False
    if case.rosh == RoshLevel.HIGH or level == 2:
        return (4 if n else 8 if s else 6), Grade.SPO, "high RoSH or MAPPA level 2", False
    if case.rosh == RoshLevel.MEDIUM and codes & {"RCPR", "RCHD", "ADVP"}:
        return (
            (6 if n else 17 if s else 8),
            Grade.SPO,
            "medium RoSH with a child protection or domestic abuse registration",
            False,
        )
    if case.rosh == RoshLevel.MEDIUM:
        return (8 if n else 17), Grade.SPO, "medium RoSH", False
    return 17, Grade.SPO, "low RoSH", not n


T = TypeVar("T")


def pick(rng: random.Random, weights: Mapping[T, float] | Mapping[T, int]) -> T:
    """One of the keys, in proportion to its weight."""
    choices = list(weights)
    return rng.choices(choices, weights=[float(weights[c]) for c in choices])[0]
