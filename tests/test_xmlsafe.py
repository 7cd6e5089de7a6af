"""Safe parsing of model files: hostile XML is refused with a Problem, and nothing is expanded or read."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine import xmlsafe
from engine.errors import DefinitionError, Problem
from engine.xmlsafe import MAX_MODEL_BYTES, parse_json, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<definitions>&lol9;</definitions>
"""

# Small enough that libxml2's own amplification guard stays quiet: shows our parser expands nothing.
SMALL_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<definitions>&lol1;</definitions>
"""

MODEL = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions id="d1">
  <!-- kept: the designer shows comments back to the modeller -->
  <process id="p1"/>
</definitions>
"""


def refusal(content: bytes, filename: str = "model.bpmn") -> Problem:
    """The single Problem parse_xml raises for the content."""
    with pytest.raises(DefinitionError) as caught:
        parse_xml(content, filename)
    [problem] = caught.value.problems
    assert problem.file == filename
    assert problem.severity == "error"
    return problem


def xxe(target: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE definitions [ <!ENTITY leak SYSTEM "{target}"> ]>\n'
        "<definitions>&leak;</definitions>\n"
    ).encode()


def test_well_formed_model_is_parsed_with_its_comments() -> None:
    root = parse_xml(MODEL, "model.bpmn")
    assert root.tag == "definitions"
    assert root[1].get("id") == "p1"
    assert any(isinstance(node, etree._Comment) for node in root)


def test_billion_laughs_is_refused_before_any_parser_reads_it_with_a_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Refused by looking at the prolog, not by parsing: no entity is declared, let alone expanded,
    # however many the file nests, so the refusal costs the same on any machine.
    def no_parsing() -> etree.XMLParser:
        raise AssertionError("the XML parser was asked to read a file with a DOCTYPE")

    monkeypatch.setattr(xmlsafe, "_xml_parser", no_parsing)
    problem = refusal(BILLION_LAUGHS)
    assert problem.line == 2
    assert "DOCTYPE declarations are not allowed" in problem.message
    assert "remove the <!DOCTYPE" in problem.message


def test_entities_are_never_expanded_by_the_parser() -> None:
    # Belt and braces: were a DOCTYPE ever to reach the parser, it still expands nothing.
    assert "DOCTYPE" in refusal(SMALL_LAUGHS).message
    root = etree.fromstring(SMALL_LAUGHS, xmlsafe._xml_parser())
    assert not root.text
    assert b"lollol" not in etree.tostring(root)


def test_external_entity_to_etc_passwd_is_refused() -> None:
    problem = refusal(xxe("file:///etc/passwd"))
    assert problem.line == 2
    assert "DOCTYPE" in problem.message
    assert "root:" not in problem.message


def test_external_entity_is_never_read_by_the_parser(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER")
    refusal(xxe(secret.as_uri()))
    root = etree.fromstring(xxe(secret.as_uri()), xmlsafe._xml_parser())
    assert b"SECRET-MARKER" not in etree.tostring(root)


def test_external_parameter_entity_is_refused_and_not_loaded(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "SECRET-MARKER">')
    content = (
        f'<?xml version="1.0"?>\n<!DOCTYPE d [ <!ENTITY % ext SYSTEM "{dtd.as_uri()}"> %ext; ]>\n<d>x</d>\n'
    ).encode()
    assert refusal(content).line == 2
    assert etree.fromstring(content, xmlsafe._xml_parser()).text == "x"


@pytest.mark.parametrize("target", ["http://127.0.0.1:9/evil.dtd", "file:///etc/passwd"])
def test_external_dtd_is_refused(target: str) -> None:
    problem = refusal(
        f'<?xml version="1.0"?>\n<!DOCTYPE definitions SYSTEM "{target}">\n<definitions/>'.encode()
    )
    assert problem.line == 2
    assert "DOCTYPE" in problem.message


def test_external_dtd_is_never_loaded_by_the_parser(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "SECRET-MARKER">')
    content = f'<!DOCTYPE d SYSTEM "{dtd.as_uri()}">\n<d>&leak;</d>'.encode()
    assert "SECRET-MARKER" not in refusal(content).message
    root = etree.fromstring(content, xmlsafe._xml_parser())
    assert b"SECRET-MARKER" not in etree.tostring(root)


def test_bare_doctype_after_a_comment_is_refused_with_its_line() -> None:
    problem = refusal(b"<?xml version='1.0'?>\n<!-- c -->\n<!DOCTYPE definitions>\n<definitions/>")
    assert problem.line == 3
    assert "DOCTYPE" in problem.message


def test_doctype_text_inside_the_document_is_not_mistaken_for_one() -> None:
    root = parse_xml(
        b"<definitions><documentation><![CDATA[<!DOCTYPE html>]]></documentation></definitions>", "m"
    )
    assert root[0].text == "<!DOCTYPE html>"


def test_oversize_file_is_refused_before_parsing() -> None:
    # Not XML at all: a parser would have reported a syntax error instead of the size.
    problem = refusal(b"x" * (MAX_MODEL_BYTES + 1))
    assert problem.line is None
    assert str(MAX_MODEL_BYTES) in problem.message
    assert "split" in problem.message


def test_file_at_the_size_limit_is_parsed() -> None:
    head, tail = b"<definitions><!--", b"--></definitions>"
    content = head + b"x" * (MAX_MODEL_BYTES - len(head) - len(tail)) + tail
    assert len(content) == MAX_MODEL_BYTES
    assert parse_xml(content, "model.bpmn").tag == "definitions"


def test_broken_xml_is_refused_with_its_line() -> None:
    problem = refusal(b'<?xml version="1.0"?>\n<definitions>\n  <process id="p1">\n</definitions>\n')
    assert problem.line == 4
    assert "not well-formed" in problem.message


def test_empty_file_is_refused() -> None:
    assert "not well-formed" in refusal(b"").message


def test_non_utf8_bytes_are_refused_with_their_line() -> None:
    problem = refusal(b"<definitions>\n<process name='caf\xe9'/>\n</definitions>")
    assert problem.line == 2
    assert "UTF-8" in problem.message


def test_declared_non_utf8_encoding_is_refused() -> None:
    problem = refusal(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<definitions/>')
    assert "ISO-8859-1" in problem.message
    assert "UTF-8" in problem.message


def test_utf16_file_is_refused() -> None:
    assert "UTF-8" in refusal("<definitions/>".encode("utf-16")).message


def test_valid_json_is_parsed_with_or_without_a_byte_order_mark() -> None:
    assert parse_json(b'{"type": "object"}', "forms/a.json") == {"type": "object"}
    assert parse_json(b'\xef\xbb\xbf{"type": "object"}', "forms/a.json") == {"type": "object"}


def test_invalid_json_is_refused_with_its_line() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_json(b'{\n  "type": "object",\n  "properties": {,}\n}', "forms/a.json")
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == ("forms/a.json", 3)
    assert "invalid JSON" in problem.message


def test_json_nan_is_refused_with_its_line() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_json(b'{\n  "minimum": NaN\n}', "forms/a.json")
    [problem] = caught.value.problems
    assert problem.line == 2
    assert "NaN" in problem.message


def test_oversize_json_is_refused() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_json(b" " * (MAX_MODEL_BYTES + 1), "forms/a.json")
    assert str(MAX_MODEL_BYTES) in caught.value.problems[0].message


def test_non_utf8_json_is_refused() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_json(b'{"title": "caf\xe9"}', "forms/a.json")
    assert "UTF-8" in caught.value.problems[0].message


def test_deeply_nested_json_is_refused() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_json(b"[" * 100_000, "forms/a.json")
    assert "nested too deeply" in caught.value.problems[0].message


def test_deeply_nested_xml_is_refused() -> None:
    # libxml2 limits depth unless huge_tree is on; parse_xml leaves it off.
    problem = refusal(b"<a>" * 10_000 + b"</a>" * 10_000)
    assert "not well-formed" in problem.message
