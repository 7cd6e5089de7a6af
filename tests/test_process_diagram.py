"""The offender management diagram as process owners and managers see it (bpmn-js in the browser and
the monitor): every step has a shape inside its lane, every flow is drawn with right angles only,
and no flow runs through a shape it does not start or end at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from engine.xmlsafe import parse_xml

BPMN_FILE = (
    Path(__file__).resolve().parent.parent / "processes" / "offender-management" / "offender-management.bpmn"
)
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
NOT_FLOW_NODES = frozenset(
    {
        "laneSet",
        "sequenceFlow",
        "documentation",
        "extensionElements",
        "incoming",
        "outgoing",
        "standardLoopCharacteristics",
        "multiInstanceLoopCharacteristics",
        "dataObject",
        "dataObjectReference",
        "textAnnotation",
        "association",
    }
)


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def contains(self, other: Box) -> bool:
        return (
            self.x <= other.x
            and self.y <= other.y
            and other.right <= self.right
            and other.bottom <= self.bottom
        )

    def crossed_by(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Whether the straight segment a-b (horizontal or vertical) runs through the inside of the box."""
        inner = Box(self.x + 1, self.y + 1, self.width - 2, self.height - 2)
        (x1, y1), (x2, y2) = a, b
        lo_x, hi_x, lo_y, hi_y = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
        return lo_x < inner.right and hi_x > inner.x and lo_y < inner.bottom and hi_y > inner.y


def _root() -> etree._Element:
    return parse_xml(BPMN_FILE.read_bytes(), BPMN_FILE.name)


def _boxes(root: etree._Element) -> dict[str, Box]:
    boxes = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        bounds = shape.find("dc:Bounds", NS)
        boxes[shape.get("bpmnElement")] = Box(*(float(bounds.get(k)) for k in ("x", "y", "width", "height")))
    return boxes


def _flow_nodes(root: etree._Element) -> dict[str, etree._Element]:
    containers = [*root.iterfind("bpmn:process", NS), *root.iterfind(".//bpmn:subProcess", NS)]
    return {
        el.get("id"): el
        for container in containers
        for el in container
        if isinstance(el.tag, str) and etree.QName(el).localname not in NOT_FLOW_NODES
    }


def _ancestors(el: etree._Element) -> set[str]:
    found = set()
    parent = el.getparent()
    while parent is not None:
        if etree.QName(parent).localname == "subProcess":
            found.add(parent.get("id"))
        parent = parent.getparent()
    return found


def _edges(root: etree._Element) -> dict[str, list[tuple[float, float]]]:
    return {
        edge.get("bpmnElement"): [
            (float(p.get("x")), float(p.get("y"))) for p in edge.iterfind("di:waypoint", NS)
        ]
        for edge in root.iterfind(".//bpmndi:BPMNEdge", NS)
    }


def test_every_flow_node_has_a_shape() -> None:
    root = _root()
    boxes = _boxes(root)
    assert sorted(set(_flow_nodes(root)) - set(boxes)) == []


def slanted_flows(root: etree._Element) -> list[str]:
    flows = {f.get("id") for f in root.iterfind(".//bpmn:sequenceFlow", NS)}
    flows |= {f.get("id") for f in root.iterfind(".//bpmn:messageFlow", NS)}
    edges = _edges(root)
    slanted = []
    for flow in sorted(flows):
        points = edges.get(flow, [])
        if len(points) < 2:
            slanted.append(f"{flow}: fewer than two waypoints")
        for a, b in zip(points, points[1:], strict=False):
            if a[0] != b[0] and a[1] != b[1]:
                slanted.append(f"{flow}: {a} -> {b}")
    return slanted


def test_every_flow_is_drawn_with_right_angles_only() -> None:
    assert slanted_flows(_root()) == []


def crossings(root: etree._Element) -> list[str]:
    boxes = _boxes(root)
    nodes = _flow_nodes(root)
    edges = _edges(root)
    problems = []
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        points = edges[flow.get("id")]
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        for end, point in ((source, points[0]), (target, points[-1])):
            box = boxes[end]
            on_border = box.x <= point[0] <= box.right and box.y <= point[1] <= box.bottom
            if not on_border or box.crossed_by(point, point):
                problems.append(f"{flow.get('id')}: {point} is not on the border of {end}")
        allowed = {source, target} | _ancestors(flow)
        for end in (source, target):
            attached = nodes[end].get("attachedToRef")
            if attached:
                allowed.add(attached)
            allowed |= {b for b, el in nodes.items() if el.get("attachedToRef") == end}
        for name, box in boxes.items():
            if name in allowed or name not in nodes:
                continue
            for a, b in zip(points, points[1:], strict=False):
                if box.crossed_by(a, b):
                    problems.append(f"{flow.get('id')} crosses {name}")
                    break
    return problems


def test_every_flow_starts_and_ends_on_its_shapes_and_crosses_no_other() -> None:
    assert crossings(_root()) == []


def outside_lanes(root: etree._Element) -> list[str]:
    boxes = _boxes(root)
    return [
        f"{ref.text} outside {ref.getparent().get('id')}"
        for ref in root.iterfind(".//bpmn:flowNodeRef", NS)
        if not boxes[ref.getparent().get("id")].contains(boxes[ref.text])
    ]


def test_every_step_sits_inside_its_lane() -> None:
    assert outside_lanes(_root()) == []


def backward_flows(root: etree._Element) -> list[str]:
    boxes = _boxes(root)
    return [
        flow.get("id")
        for flow in root.iterfind(".//bpmn:sequenceFlow", NS)
        if boxes[flow.get("targetRef")].x < boxes[flow.get("sourceRef")].x
    ]


def test_the_diagram_reads_left_to_right() -> None:
    """No flow goes back to the left: the model's loops are sub-processes that repeat, not back-edges."""
    assert backward_flows(_root()) == []


def test_the_custody_and_licence_diagram_draws_its_flows_square_and_crossing_no_other_step() -> None:
    path = BPMN_FILE.with_name("custody-licence.bpmn")
    root = parse_xml(path.read_bytes(), path.name)
    assert slanted_flows(root) == []
    assert crossings(root) == []
