"""QueryLineage: a bounded breadth-first walk over the associations.

From the start entity the walk follows associations forwards (``Descendants``: source ->
destination), backwards (``Ascendants``) or both ways at every vertex it reaches (``Both``), one
layer per step, up to ``MaxDepth`` associations away (default and maximum 10, as in SageMaker).
Each layer is two index lookups (edges from / to the whole frontier), never a scan, and the walk
stops at ``MAX_VERTICES`` vertices whatever the depth.

Filters select which vertices are returned; the walk goes on through vertices that do not match
(an endpoint reaches its datasets through the model between them). The start vertex is returned
when it matches. With ``IncludeEdges`` and no filter every association walked is returned; with a
filter, the associations and vertices on the paths from the start to each matching vertex.
Without ``MaxResults`` every vertex is returned at once (the SageMaker Python SDK reads one page
only); with it, vertices come in pages in the order the walk found them, each edge with the page
of its later-found end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ValidationException
from modelreg.sagemaker import lineage_backlog, pagination
from modelreg.sagemaker.common import epoch_param_us
from modelreg.sagemaker.lineage_entities import (
    LINEAGE_TYPES,
    entity_type,
    find_by_arn,
    kind_of,
    not_found,
)
from modelreg.store.base import Transaction
from modelreg.store.rows import AssociationRow, NamedResource

DEFAULT_DEPTH = MAX_DEPTH = 10
MAX_VERTICES = 5000
_EDGES_PER_LAYER = 20000

Edge = tuple[str, str]  # (source ARN, destination ARN)


@dataclass
class Vertex:
    arn: str
    type: str
    lineage_type: str
    depth: int
    entity: NamedResource | None = None


@dataclass
class Graph:
    """What a walk found: vertices in the order found, the associations walked, and for each
    vertex the associations that reached it from the layer before (its shortest paths)."""

    vertices: dict[str, Vertex] = field(default_factory=dict)
    edges: dict[Edge, AssociationRow] = field(default_factory=dict)
    reached_by: dict[str, list[Edge]] = field(default_factory=dict)
    truncated: bool = False

    def add(self, arn: str, type_: str | None, depth: int, entity: NamedResource | None = None) -> Vertex:
        kind = kind_of(arn) or ""
        vertex = Vertex(arn, type_ or "", LINEAGE_TYPES.get(kind, "Artifact"), depth, entity)
        self.vertices[arn] = vertex
        return vertex


def walk(tx: Transaction, starts: Sequence[NamedResource], direction: str, max_depth: int) -> Graph:
    """The lineage graph around ``starts`` (see the module docstring)."""
    graph = Graph()
    for start in starts:
        graph.add(start.arn, entity_type(start), 0, start)
    frontier = [s.arn for s in starts]
    forwards, backwards = direction in ("Descendants", "Both"), direction in ("Ascendants", "Both")
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        found: list[tuple[AssociationRow, str, str | None]] = []  # (edge, neighbour, its type)
        if forwards:
            found += [
                (e, e.destination_arn, e.destination_type)
                for e in tx.associations_from(frontier, _EDGES_PER_LAYER)
            ]
        if backwards:
            found += [
                (e, e.source_arn, e.source_type) for e in tx.associations_to(frontier, _EDGES_PER_LAYER)
            ]
        next_frontier: list[str] = []
        for edge, neighbour, neighbour_type in found:
            key = (edge.source_arn, edge.destination_arn)
            known = graph.vertices.get(neighbour)
            if known is None:
                if len(graph.vertices) >= MAX_VERTICES:
                    graph.truncated = True
                    continue
                graph.add(neighbour, neighbour_type, depth)
                next_frontier.append(neighbour)
                known = graph.vertices[neighbour]
            graph.edges[key] = edge
            if known.depth == depth:
                graph.reached_by.setdefault(neighbour, []).append(key)
        frontier = next_frontier
    return graph


def on_paths_to(graph: Graph, targets: Sequence[str]) -> tuple[set[str], set[Edge]]:
    """The vertices and edges on the shortest paths from the start(s) to ``targets``."""
    vertices, edges = set(targets), set()
    stack = list(targets)
    while stack:
        arn = stack.pop()
        for edge in graph.reached_by.get(arn, []):
            if edge in edges:
                continue
            edges.add(edge)
            previous = edge[0] if edge[1] == arn else edge[1]
            if previous not in vertices:
                vertices.add(previous)
                stack.append(previous)
    return vertices, edges


@dataclass
class VertexFilter:
    """QueryLineage ``Filters``: every given condition must hold; of Properties, any pair."""

    types: set[str] | None = None
    lineage_types: set[str] | None = None
    created_after_us: int | None = None
    created_before_us: int | None = None
    modified_after_us: int | None = None
    modified_before_us: int | None = None
    properties: dict[str, str] | None = None

    @classmethod
    def from_params(cls, filters: dict[str, Any] | None) -> VertexFilter | None:
        if not filters:
            return None
        made = cls(
            types=set(filters["Types"]) if filters.get("Types") else None,
            lineage_types=set(filters["LineageTypes"]) if filters.get("LineageTypes") else None,
            created_after_us=epoch_param_us(filters, "CreatedAfter"),
            created_before_us=epoch_param_us(filters, "CreatedBefore"),
            modified_after_us=epoch_param_us(filters, "ModifiedAfter"),
            modified_before_us=epoch_param_us(filters, "ModifiedBefore"),
            properties=dict(filters["Properties"]) if filters.get("Properties") else None,
        )
        return None if made == cls() else made

    def _needs_entity(self) -> bool:
        return any(
            v is not None
            for v in (
                self.created_after_us,
                self.created_before_us,
                self.modified_after_us,
                self.modified_before_us,
                self.properties,
            )
        )

    def matches(self, tx: Transaction, vertex: Vertex) -> bool:
        if self.types is not None and vertex.type not in self.types:
            return False
        if self.lineage_types is not None and vertex.lineage_type not in self.lineage_types:
            return False
        if not self._needs_entity():
            return True
        entity = vertex.entity or find_by_arn(tx, vertex.arn)
        if entity is None:
            return False
        vertex.entity = entity
        created = entity.created_us
        modified = round(entity.body.get("LastModifiedTime", created / 1e6) * 1_000_000)
        checks = (
            self.created_after_us is None or created > self.created_after_us,
            self.created_before_us is None or created < self.created_before_us,
            self.modified_after_us is None or modified > self.modified_after_us,
            self.modified_before_us is None or modified < self.modified_before_us,
        )
        if not all(checks):
            return False
        if self.properties is None:
            return True
        have = entity.body.get("Properties") or {}
        return any(have.get(k) == v for k, v in self.properties.items())


def _number(params: dict[str, Any], member: str, default: int | None, low: int, high: int) -> int | None:
    value = params.get(member)
    if value is None:
        return default
    if not low <= value <= high:
        raise ValidationException(f"{member} must be between {low} and {high}; it was {value}.")
    return int(value)


@operation("sagemaker", "QueryLineage")
def query_lineage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    direction = params.get("Direction") or "Both"
    depth = _number(params, "MaxDepth", DEFAULT_DEPTH, 0, MAX_DEPTH)
    limit = _number(params, "MaxResults", None, 1, 50)
    vertex_filter = VertexFilter.from_params(params.get("Filters"))
    assert depth is not None
    with lineage_backlog.reading(ctx) as tx:
        starts = []
        for arn in params.get("StartArns") or []:
            entity = find_by_arn(tx, arn)
            if entity is None:
                raise not_found(kind_of(arn) or "", arn)
            starts.append(entity)
        graph = walk(tx, starts, direction, depth)
        if vertex_filter is None:
            chosen, edges = list(graph.vertices), set(graph.edges)
        else:
            matched = [a for a, v in graph.vertices.items() if vertex_filter.matches(tx, v)]
            on_path, edges = on_paths_to(graph, matched)
            shown = on_path if params.get("IncludeEdges") else set(matched)
            chosen = [a for a in graph.vertices if a in shown]
    order = {arn: i for i, arn in enumerate(chosen)}
    start = pagination.decode_offset(params)
    end = len(chosen) if limit is None else start + limit
    page = chosen[start:end]
    token = pagination.encode_token([end], params) if end < len(chosen) else None
    result_edges = []
    if params.get("IncludeEdges"):
        for src, dst in edges:
            owner = max(order.get(src, -1), order.get(dst, -1))
            if start <= owner < end:
                row = graph.edges[(src, dst)]
                edge: dict[str, Any] = {"SourceArn": src, "DestinationArn": dst}
                if row.association_type:
                    edge["AssociationType"] = row.association_type
                result_edges.append((owner, edge))
        result_edges.sort(key=lambda pair: (pair[0], pair[1]["SourceArn"], pair[1]["DestinationArn"]))
    vertices = [
        {"Arn": v.arn, "Type": v.type, "LineageType": v.lineage_type}
        for v in (graph.vertices[a] for a in page)
    ]
    return {"Vertices": vertices, "Edges": [e for _, e in result_edges], "NextToken": token}
