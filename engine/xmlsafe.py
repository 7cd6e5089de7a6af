"""Safe parsing of uploaded or edited model files (BPMN and DMN XML, JSON form schemas).

Model files come from users, so they are treated as hostile: no DTDs (entity declarations are how
billion-laughs and XXE attacks work), no network or file access while parsing, and a size limit
checked before any parser sees the bytes. Every refusal is a `DefinitionError` whose `Problem`
says where the file is wrong and what to change.
"""

from __future__ import annotations

import json
import re

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from engine.errors import DefinitionError, Problem

MAX_MODEL_BYTES = 2 * 1024 * 1024

# A DOCTYPE can only sit in the prolog: after the XML declaration, comments and processing
# instructions, before the root element. Matching only there avoids refusing "<!DOCTYPE" in text.
_PROLOG_DOCTYPE = re.compile(r"\ufeff?(?>\s|<\?.*?\?>|<!--.*?-->)*+<!DOCTYPE", re.DOTALL)
# JSON's own grammar has no NaN or Infinity; Python accepts them, browsers do not.
_NON_JSON_CONSTANT = re.compile(r"-?\b(?:NaN|Infinity)\b")


def parse_xml(content: bytes, filename: str) -> etree._Element:
    """Parse model XML with entities, DTDs and network access disabled; refuse anything unsafe."""
    _check_size(content, filename)
    text = _decode(content, filename, "utf-8")
    # Refused before parsing too: libxml2 reads the internal subset even with entities switched off.
    doctype = _PROLOG_DOCTYPE.match(text)
    if doctype:
        raise _refuse_doctype(filename, text.count("\n", 0, doctype.end()) + 1)
    try:
        root = etree.fromstring(content, _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise _refuse(
            filename, exc.lineno, f"the XML is not well-formed ({exc.msg}): fix it at this line"
        ) from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _refuse_doctype(filename, _line_of(text, "<!DOCTYPE"))
    if (docinfo.encoding or "UTF-8").replace("-", "").lower() != "utf8":
        raise _refuse(
            filename,
            1,
            f'the file declares encoding "{docinfo.encoding}": save it as UTF-8 and declare UTF-8',
        )
    return root


def parse_json(content: bytes, filename: str) -> object:
    """Parse a JSON file (a form schema) with the model size limit; refuse invalid JSON with its line."""
    _check_size(content, filename)
    # utf-8-sig: editors on Windows add a byte-order mark, which json.loads would refuse.
    text = _decode(content, filename, "utf-8-sig")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise _refuse(filename, exc.lineno, f"invalid JSON ({exc.msg}, column {exc.colno}): fix it") from exc
    except ValueError as exc:
        line = _line_of_match(text, _NON_JSON_CONSTANT)
        raise _refuse(filename, line, f"{exc}: JSON has no such value; use null or a number") from exc
    except RecursionError as exc:
        raise _refuse(filename, None, "the JSON is nested too deeply: flatten it") from exc


def _xml_parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers keep state and are not safe to share across threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _check_size(content: bytes, filename: str) -> None:
    if len(content) > MAX_MODEL_BYTES:
        raise _refuse(
            filename,
            None,
            f"the file is {len(content)} bytes; model files may be at most {MAX_MODEL_BYTES} bytes: "
            "split it into smaller files or remove embedded data",
        )


def _decode(content: bytes, filename: str, encoding: str) -> str:
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise _refuse(
            filename, line, f"the file is not UTF-8 (byte {exc.start} cannot be decoded): save it as UTF-8"
        ) from exc


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


def _line_of_match(text: str, pattern: re.Pattern[str]) -> int | None:
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _refuse_doctype(filename: str, line: int) -> DefinitionError:
    message = "DOCTYPE declarations are not allowed in model files: remove the <!DOCTYPE ...> line"
    return _refuse(filename, line, message)


def _refuse(filename: str, line: int | None, message: str) -> DefinitionError:
    return DefinitionError([Problem(file=filename, line=line, message=message)])
