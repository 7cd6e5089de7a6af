"""The area risk policy as a page, each numbered point with its own anchor.

The policy is `policy.md` in the process bundle (processes/offender-management/policy.md), so it is
versioned, compared, edited in a draft and published with the model whose steps it governs; the
page shows it as the newest published version holds it. A task page links to the point its step
puts into practice (`policySection` on the model's element) as `/policy#section-7`. The file is
plain Markdown of a few kinds of block (headings, paragraphs, lists, tables), so this reads just
those and escapes everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, render_template
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import DefinitionFile, ProcessDefinition
from webui import riskflow

bp = Blueprint("policy", __name__)

POLICY_FILE = "policy.md"
_NUMBERED = re.compile(r"^(\d+)\.\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*([^*]+)\*\*")


@dataclass
class Section:
    """One heading of the policy with its blocks of text."""

    anchor: str
    heading: str
    blocks: list[Markup] = field(default_factory=list)


@dataclass
class Policy:
    """The policy's title, its opening text and its sections."""

    title: str
    intro: list[Markup]
    sections: list[Section]


@dataclass(frozen=True)
class Published:
    """The policy as a published version of the model holds it."""

    policy: Policy
    bundle: str
    version: int
    deployed_at: datetime


def published_policy(session: Session) -> Published | None:
    """The policy of the newest published version that has one (None before any is published)."""
    row = session.execute(
        select(
            DefinitionFile.content,
            ProcessDefinition.name,
            ProcessDefinition.version,
            ProcessDefinition.deployed_at,
        )
        .join(ProcessDefinition, ProcessDefinition.id == DefinitionFile.definition_id)
        .where(DefinitionFile.path == POLICY_FILE)
        .order_by(ProcessDefinition.deployed_at.desc(), ProcessDefinition.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    content, bundle, version, deployed_at = row
    return Published(read_policy(content.decode("utf-8", errors="replace")), bundle, version, deployed_at)


def read_policy(text: str) -> Policy:
    """Parse the policy's text into sections; a numbered heading `## 7. ...` gets the anchor `section-7`."""
    title = "Area risk policy"
    intro: list[Markup] = []
    sections: list[Section] = []
    target = intro
    for block in re.split(r"\n\s*\n", text):
        text = block.strip()
        if text.startswith("# "):
            title = text[2:].strip()
        elif text.startswith("## "):
            heading = text[3:].strip()
            numbered = _NUMBERED.match(heading)
            anchor = f"section-{numbered.group(1)}" if numbered else _slug(heading)
            sections.append(Section(anchor, heading))
            target = sections[-1].blocks
        elif text:
            target.append(_block(text))
    return Policy(title, intro, sections)


def section_numbers(text: str) -> set[str]:
    """The numbers of the policy's points, for checking the model's links to them."""
    return {
        s.anchor.removeprefix("section-")
        for s in read_policy(text).sections
        if s.anchor.startswith("section-")
    }


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _inline(text: str) -> Markup:
    html = str(escape(text))
    html = _CODE.sub(r'<code class="riskflow-code">\1</code>', html)
    return Markup(_STRONG.sub(r"<strong>\1</strong>", html))  # noqa: S704 - built from escaped text


def _block(text: str) -> Markup:
    lines = text.splitlines()
    if all(line.lstrip().startswith("|") for line in lines):
        return _table(lines)
    if all(line.lstrip().startswith(("- ", "* ")) for line in lines):
        items = "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in lines)
        return Markup(f'<ul class="govuk-list govuk-list--bullet">{items}</ul>')  # noqa: S704 - escaped items
    return Markup(f'<p class="govuk-body">{_inline(" ".join(line.strip() for line in lines))}</p>')  # noqa: S704


def _table(lines: list[str]) -> Markup:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    rows = [row for row in rows if not all(set(cell) <= set("-: ") for cell in row)]
    head = "".join(f'<th scope="col" class="govuk-table__header">{_inline(c)}</th>' for c in rows[0])
    body = "".join(
        '<tr class="govuk-table__row">'
        + f'<th scope="row" class="govuk-table__header">{_inline(row[0])}</th>'
        + "".join(f'<td class="govuk-table__cell">{_inline(c)}</td>' for c in row[1:])
        + "</tr>"
        for row in rows[1:]
    )
    head_row = f'<thead class="govuk-table__head"><tr class="govuk-table__row">{head}</tr></thead>'
    body_rows = f'<tbody class="govuk-table__body">{body}</tbody>'
    return Markup(f'<table class="govuk-table">{head_row}{body_rows}</table>')  # noqa: S704 - escaped cells


@bp.get("/policy")
def page() -> str:
    """The area risk policy, as the newest published version of the model holds it."""
    with riskflow().db.transaction(write=False) as session:
        published = published_policy(session)
    return render_template(
        "task/policy.html", published=published, policy=published.policy if published else None
    )
