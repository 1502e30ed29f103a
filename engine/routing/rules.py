"""One route compiled: which resources it matches (type, channel, message type, FHIRPath
criteria) and what it changes before they are sent (drop elements, add tags or identifiers).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from engine.config.engine_config import RouteConfig
from engine.config.route_criteria import compile_criterion, where_expressions


def _truthy(results: list) -> bool:
    """FHIRPath criteria hold when they return something and nothing of it is ``false``."""
    return bool(results) and all(result is not False for result in results)


def _drop(node: Any, path: list[str]) -> None:
    """Remove a dotted element path (``telecom``, ``meta.tag``, ``name.given``) wherever it occurs."""
    if isinstance(node, list):
        for item in node:
            _drop(item, path)
        return
    if not isinstance(node, dict) or not path:
        return
    if len(path) == 1:
        node.pop(path[0], None)
    else:
        _drop(node.get(path[0]), path[1:])


@dataclass
class CompiledRoute:
    """A route ready to match and transform resources.

    Example::

        route = CompiledRoute.compile(RouteConfig("adults", ("carepatron",), {"where": "birthDate < @2008-01-01"}))
        route.matches(patient, channel="mllp", message_type="ADT^A01")
    """

    config: RouteConfig
    criteria: list[Callable[[dict], list]]

    @classmethod
    def compile(cls, config: RouteConfig) -> "CompiledRoute":
        """Raise ``ValueError`` naming the route when a FHIRPath expression does not compile."""
        compiled = []
        for expression in where_expressions(config.match):
            try:
                compiled.append(compile_criterion(expression))
            except ValueError as exc:
                raise ValueError(f"route {config.name}: match.where is not valid FHIRPath: {exc}") from None
        return cls(config, compiled)

    @property
    def name(self) -> str:
        return self.config.name

    def matches(self, resource: dict[str, Any], channel: str | None, message_type: str | None) -> bool:
        match = self.config.match
        if match.get("resource_types") and resource.get("resourceType") not in match["resource_types"]:
            return False
        if match.get("channels") and channel not in match["channels"]:
            return False
        if match.get("message_types") and message_type not in match["message_types"]:
            return False
        try:
            return all(_truthy(criterion(resource)) for criterion in self.criteria)
        except Exception:  # an expression that cannot apply to this resource does not match it
            return False

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource as this route's destinations receive it."""
        transform = self.config.transform
        if not transform:
            return resource
        resource = copy.deepcopy(resource)
        for path in transform.get("drop") or []:
            _drop(resource, path.split(".")[1:] if path.split(".")[0] == resource.get("resourceType") else path.split("."))
        tags = transform.get("tags") or []
        if tags:
            meta = resource.setdefault("meta", {})
            present = {(t.get("system"), t.get("code")) for t in meta.get("tag") or []}
            meta["tag"] = (meta.get("tag") or []) + [dict(t) for t in tags if (t.get("system"), t.get("code")) not in present]
        identifiers = transform.get("identifiers") or []
        if identifiers:
            present = {(i.get("system"), i.get("value")) for i in resource.get("identifier") or []}
            resource["identifier"] = (resource.get("identifier") or []) + [
                dict(i) for i in identifiers if (i.get("system"), i.get("value")) not in present]
        return resource
