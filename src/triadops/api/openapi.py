"""The served OpenAPI document: FastAPI's, completed with what only the catalogues know.

The request models validate shapes; the names a request may use (actions and their params,
procedures, checks) live in catalogues that are filled at run time, and the legislature
refuses any other name with 422 and the field. This module writes those catalogues into
the spec, so that a client generating requests from it (a fuzzer, a form) sends what the
API accepts. It changes no validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.errors import PydanticUserError

from triadops.actions.procedures import BUILTIN, check_paths
from triadops.actions.registry import AnyAction
from triadops.api.schemas import PROBLEM_SCHEMA_REF, Problem
from triadops.domain.operations import NO_NUL_PATTERN
from triadops.runtime import Runtime, registries
from triadops.settings import Settings
from triadops.storage.targets import OWN_DATABASE

COMPONENTS = "#/components/schemas/"
STEP = "StepSpec-Input"
"""The component of a step in a request: one registered action with its own params."""
Schema = dict[str, Any]


@dataclass(frozen=True)
class Catalogue:
    """The names a request may use, with each action's params model."""

    actions: tuple[AnyAction, ...]
    procedures: tuple[str, ...]
    checks: tuple[str, ...]
    targets: tuple[str, ...]
    """Database targets, which actions name in their ``target`` param (`actions.base`)."""

    @classmethod
    def of(cls, runtime: Runtime | None, settings: Settings) -> Catalogue:
        """Read the runtime's registries, or the built-in ones before a runtime is open."""
        if runtime is None:
            registry, check_registry = registries(settings)
            actions: Iterable[AnyAction] = list(registry)
            checks = check_registry.names()
            targets = [OWN_DATABASE, *sorted(settings.database_targets)]
            procedures = check_paths([BUILTIN], actions=registry, checks=checks)[0].names()
        else:
            actions, checks = runtime.actions, runtime.checks.names()
            targets = runtime.databases.names()
            procedures = runtime.procedures.names()
        return cls(
            actions=tuple(sorted(actions, key=lambda action: action.name)),
            procedures=tuple(procedures),
            checks=tuple(checks),
            targets=tuple(targets),
        )

    @property
    def key(self) -> tuple[tuple[str, ...], ...]:
        """What the spec depends on: the names in each catalogue."""
        return (tuple(a.name for a in self.actions), self.procedures, self.checks, self.targets)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve `complete`'s spec from `app`, built once per catalogue.

    The catalogues are the runtime's once the lifespan has opened it (entry-point actions
    and checks included); before that, the built-in ones.
    """
    built: dict[tuple[tuple[str, ...], ...], Schema] = {}

    def openapi() -> Schema:
        catalogue = Catalogue.of(getattr(app.state, "runtime", None), settings)
        if catalogue.key not in built:
            app.openapi_schema = None
            built[catalogue.key] = complete(FastAPI.openapi(app), catalogue)
        app.openapi_schema = built[catalogue.key]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def operation_id(route: APIRoute) -> str:
    """Name a route that has no explicit ``operation_id``: ``<tag>.<function name>``."""
    return ".".join([*(str(tag) for tag in route.tags[:1]), route.name])


def complete(spec: Schema, catalogue: Catalogue) -> Schema:
    """Add the problem schema, and narrow request bodies to the catalogues' names."""
    components: dict[str, Schema] = spec.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template=COMPONENTS + "{model}", mode="serialization")
    _register(components, PROBLEM_SCHEMA_REF.removeprefix(COMPONENTS), problem)
    if catalogue.actions:
        _register_steps(components, catalogue)
    for name in set(_request_components(spec)):
        properties: dict[str, Schema] = components[name].get("properties", {})
        if properties.get("steps", {}).get("type") == "array" and catalogue.actions:
            properties["steps"]["items"] = {"$ref": COMPONENTS + STEP}
        if "procedure" in properties:
            _enumerate(properties["procedure"], catalogue.procedures)
        if "validation_criteria" in properties:
            _enumerate(properties["validation_criteria"].get("items", {}), catalogue.checks)
    return spec


def _register(components: dict[str, Schema], name: str, schema: Schema) -> None:
    """Put `schema` and its ``$defs`` among the components; a name taken otherwise is a bug."""
    for def_name, definition in {**schema.pop("$defs", {}), name: schema}.items():
        if components.setdefault(def_name, definition) != definition:
            raise ValueError(f"two different schemas are both called {def_name!r}")


def _register_steps(components: dict[str, Schema], catalogue: Catalogue) -> None:
    """Add one component per action (its name and params model) and their union."""
    mapping: dict[str, str] = {}
    for action in catalogue.actions:
        prefix = re.sub(r"[^A-Za-z0-9._-]", "_", action.name)
        params = _params_schema(action.params_model, prefix, components)
        if "target" in params.get("properties", {}):
            _enumerate(params["properties"]["target"], catalogue.targets)
        name = f"Step.{prefix}"
        components[name] = {
            "title": action.name,
            "description": f"{action.description} (risk {action.risk.value}).",
            "type": "object",
            "properties": {"action": {"const": action.name}, "params": params},
            "required": ["action"],
            "additionalProperties": False,
        }
        mapping[action.name] = COMPONENTS + name
    components[STEP] = {
        "title": "StepSpec",
        "description": "One step: a registered action and its params (as its model states).",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "action", "mapping": mapping},
    }


def _params_schema(model: type[BaseModel], prefix: str, components: dict[str, Schema]) -> Schema:
    """Return the params model's schema; its own definitions go under ``<prefix>.<name>``.

    Every string in params is refused with NUL (`domain.operations.Params`), so the schema
    says so too. A model without a JSON schema is documented as any object.
    """
    try:
        schema = model.model_json_schema(ref_template=f"{COMPONENTS}{prefix}.{{model}}")
    except PydanticUserError:
        return {"type": "object"}
    for definition in (schema, *schema.get("$defs", {}).values()):
        _forbid_nul(definition)
    for def_name, definition in schema.pop("$defs", {}).items():
        _register(components, f"{prefix}.{def_name}", definition)
    return schema


def _forbid_nul(schema: Schema) -> None:
    """Give every free string (and object key) in `schema` the no-NUL pattern, in place."""
    if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
        schema["pattern"] = NO_NUL_PATTERN
    if schema.get("type") == "object" and schema.get("additionalProperties", True) is not False:
        schema.setdefault("propertyNames", {"pattern": NO_NUL_PATTERN})
    for sub in _subschemas(schema):
        _forbid_nul(sub)


def _subschemas(schema: Schema) -> Iterator[Schema]:
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            yield schema[key]
    for key in ("properties", "patternProperties"):
        yield from schema.get(key, {}).values()
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        yield from schema.get(key, [])


def _enumerate(schema: Schema, names: Iterable[str]) -> None:
    """Narrow the string schema (or the string branch of an ``anyOf``) to `names`."""
    if schema.get("type") == "string":
        schema["enum"] = list(names)
    for branch in schema.get("anyOf", []):
        _enumerate(branch, names)


def _request_components(spec: Schema) -> Iterator[str]:
    """Yield the component names that request bodies refer to directly."""
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            body = operation.get("requestBody", {}) if isinstance(operation, dict) else {}
            for media in body.get("content", {}).values():
                yield from _refs(media.get("schema", {}))


def _refs(schema: Schema) -> Iterator[str]:
    if "$ref" in schema:
        yield schema["$ref"].removeprefix(COMPONENTS)
    for branch in schema.get("anyOf", []):
        yield from _refs(branch)
