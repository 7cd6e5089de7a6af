"""The API's operations, declared once in code, and the OpenAPI document generated from them.

Each view is registered with `operation(...)`: its method and path, the scope it needs, the pydantic
models of its query, body and response, and the error statuses it can give. The same declaration
parses and checks the request, serialises the response, and is read back by `openapi_document`, so
/openapi.json cannot drift from what the code does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, g, request
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from webui.api.callers import authenticate
from webui.api.problems import ApiProblem, ErrorBody

OPENAPI_VERSION = "3.1.0"
API_PREFIX = "/api/v1"
# Error statuses and what each means, for every operation's documented responses.
ERROR_MEANINGS = {
    401: "No token, an unknown token, or a revoked one.",
    403: "The token lacks the scope, its holder may not do this, or a limited-access case keeps them out.",
    404: "There is no such case, task, instance or definition, or none the caller may know of.",
    409: "The state changed: the task was taken or done, the instance is in another state.",
    422: "The request is not valid: `fields` says what is wrong with which field.",
}
MAX_ID = 2**63 - 1  # the largest id either database can hold
View = Callable[..., BaseModel | tuple[BaseModel, int]]
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Operation:
    """One API operation, as both the request handling and the document see it."""

    method: str
    rule: str
    endpoint: str
    summary: str
    description: str
    tag: str
    scope: str
    response: type[BaseModel]
    status: int
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    also: dict[int, str] = field(default_factory=dict)  # other success statuses, with what each means
    path_params: dict[str, str] = field(default_factory=dict)


OPERATIONS: list[Operation] = []


def operation(
    bp: Blueprint,
    method: str,
    rule: str,
    *,
    scope: str,
    tag: str,
    response: type[BaseModel],
    status: int = 200,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    also: dict[int, str] | None = None,
) -> Callable[[View], View]:
    """Register `view` on `bp` as an operation needing `scope`; the view gets the caller first."""

    def register(view: View) -> View:
        doc = (view.__doc__ or "").strip()
        summary, _, description = doc.partition("\n")
        op = Operation(
            method=method.lower(),
            rule=rule,
            endpoint=view.__name__,
            summary=summary.strip(),
            description=description.strip(),
            tag=tag,
            scope=scope,
            response=response,
            status=status,
            query=query,
            body=body,
            errors=tuple(sorted({401, 403, *errors, *((422,) if query or body else ())})),
            also=dict(also or {}),
            path_params={name: conv or "string" for conv, name in _CONVERTER.findall(rule)},
        )
        OPERATIONS.append(op)

        def handle(**path: Any) -> Response:
            caller = authenticate()
            g.api_caller = caller
            caller.require(scope)
            if any(isinstance(value, int) and not 0 < value <= MAX_ID for value in path.values()):
                raise ApiProblem(404, "not_found", "There is nothing with that id.")
            kwargs: dict[str, Any] = dict(path)
            if query is not None:
                kwargs["query"] = query.model_validate(request.args.to_dict())
            if body is not None:
                kwargs["body"] = body.model_validate(_json_body())
            result = view(caller, **kwargs)
            model, code = result if isinstance(result, tuple) else (result, status)
            return Response(model.model_dump_json(), status=code, mimetype="application/json")

        handle.__name__ = view.__name__
        handle.__doc__ = view.__doc__
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=handle, methods=[method.upper()])
        return view

    return register


def _json_body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ApiProblem(
            422, "invalid_body", "Send the request body as a JSON object with Content-Type application/json."
        )
    return data


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every registered operation."""
    from webui.api.tokens import SCOPES

    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        path = API_PREFIX + _CONVERTER.sub(r"{\2}", op.rule)
        paths.setdefault(path, {})[op.method] = _operation_object(op, components)
    components["ErrorBody"] = _schema(ErrorBody, components, "serialization")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "riskflow API",
            "version": "1",
            "description": (
                "Cases, tasks, instances and messages from outside, for the systems around riskflow. "
                "Every call carries `Authorization: Bearer <token>`; each operation names the scope "
                "it needs. Scopes: " + "; ".join(f"`{name}`: {text}" for name, text in SCOPES.items())
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `riskflow token issue`.",
                }
            },
        },
        "security": [{"bearerToken": []}],
    }


def _operation_object(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            if conv == "int"
            else {"type": "string"},
        }
        for name, conv in op.path_params.items()
    ]
    if op.query is not None:
        schema = _schema(op.query, components)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": _sendable(prop)}
            )
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "Done.",
            "content": {"application/json": {"schema": _ref(op.response, components, "serialization")}},
        }
    }
    for code, meaning in op.also.items():
        responses[str(code)] = {
            "description": meaning,
            "content": {"application/json": {"schema": _ref(op.response, components, "serialization")}},
        }
    for code in op.errors:
        responses[str(code)] = {
            "description": ERROR_MEANINGS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
    obj: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "description": (op.description + "\n\n" if op.description else "") + f"Needs scope `{op.scope}`.",
        "tags": [op.tag],
        "x-scope": op.scope,
        "security": [{"bearerToken": []}],
        "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None:
        obj["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.body, components, "validation")}},
        }
    return obj


def _sendable(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without null: a query string cannot carry one, so an optional filter
    (`X | None = None` in its model) is either sent with a value or left out."""
    schema = {key: value for key, value in schema.items() if not (key == "default" and value is None)}
    if isinstance(schema.get("type"), list):
        kinds = [kind for kind in schema["type"] if kind != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    for keyword in ("anyOf", "oneOf"):
        if keyword not in schema:
            continue
        members = [_sendable(member) for member in schema.pop(keyword) if member != {"type": "null"}]
        if len(members) == 1:
            schema = {**schema, **members[0]}  # "X or null" becomes X itself, keeping title and description
        else:
            schema[keyword] = members
    return schema


def _ref(model: type[BaseModel], components: dict[str, Any], mode: JsonSchemaMode) -> dict[str, str]:
    components[model.__name__] = _schema(model, components, mode)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _schema(
    model: type[BaseModel], components: dict[str, Any], mode: JsonSchemaMode = "validation"
) -> dict[str, Any]:
    """The model's JSON Schema, its nested models moved into the components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    for name, nested in schema.pop("$defs", {}).items():
        components[name] = nested
    return schema
