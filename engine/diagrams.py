"""Which of a bundle's diagrams to draw: the main process's, or the one holding the steps asked about.

A bundle may hold several BPMN files: the main process and the routes it calls (custody-licence.bpmn
beside offender-management.bpmn). The monitor draws the main diagram; a comparison of versions draws
the diagram holding the changed steps.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from lxml import etree

from engine.xmlsafe import parse_xml

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def diagram_with_marks(files: Mapping[str, bytes], element_ids: Collection[str]) -> str | None:
    """The BPMN file to draw for a set of steps: the first, main diagram first, that holds any of them
    (the main diagram when none does); None for a bundle without BPMN."""
    roots = {path: parse_xml(content, path) for path, content in files.items() if path.endswith(".bpmn")}
    order = diagrams_main_first(roots)
    wanted = set(element_ids)
    for path in order:
        if any(el.get("id") in wanted for el in roots[path].iter()):
            return path
    return next(iter(order), None)


def diagrams_main_first(roots: Mapping[str, etree._Element]) -> list[str]:
    """The paths of a bundle's BPMN documents, the main diagram first: those holding a process that no
    other process calls (the bundle's own process, not a route it calls, such as custody-licence.bpmn
    beside offender-management.bpmn), then the routes; each group by path."""
    called = {
        call.get("calledElement") for root in roots.values() for call in root.iter(f"{{{BPMN}}}callActivity")
    }

    def is_main(root: etree._Element) -> bool:
        return any(p.get("id") not in called for p in root.iter(f"{{{BPMN}}}process"))

    return sorted(roots, key=lambda path: (not is_main(roots[path]), path))
