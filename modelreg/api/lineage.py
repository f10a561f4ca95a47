"""``GET /api/model-packages/{group}/{version}/lineage``: the lineage graph around a version, for
the UI.

Upstream (Ascendants of the version's artifact: model data, images, datasets, code, the training
job or pipeline execution that generated it) and downstream (Descendants: its group, the
deployments that served it and their endpoints) each up to ``?depth=`` associations away (default
10)::

    {"modelPackageArn": ..., "artifactArn": ...,
     "vertices": [{"arn", "type", "lineageType", "name", "sourceUri"?, "createdAt", "properties"?,
                   "focus"? (the version itself), "modelPackageArn"? (an artifact of a version),
                   "endpointName"?, "endpointArn"? (an endpoint context or a deployment),
                   "change"?, "liveFrom"?, "liveUntil"? (a ModelDeployment: when it served)}],
     "edges": [{"source", "destination", "type"}]}

``?region=`` picks the region (default: the server's).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelreg import arns
from modelreg.api import common
from modelreg.sagemaker import lineage_backlog
from modelreg.sagemaker.lineage import package_artifact
from modelreg.sagemaker.lineage_entities import entity_name, find_by_arn
from modelreg.sagemaker.lineage_query import MAX_DEPTH, Graph, Vertex, walk
from modelreg.store.base import Transaction
from modelreg.store.rows import DeploymentRow


def _time(us: int | None) -> float | None:
    return None if us is None else us / 1_000_000


def _vertex_json(tx: Transaction, vertex: Vertex, deployments: list[DeploymentRow]) -> dict[str, Any]:
    entity = vertex.entity or find_by_arn(tx, vertex.arn)
    out: dict[str, Any] = {"arn": vertex.arn, "type": vertex.type, "lineageType": vertex.lineage_type}
    if entity is None:
        return out
    body = entity.body
    source_uri = (body.get("Source") or {}).get("SourceUri")
    properties = body.get("Properties") or {}
    out["name"] = entity_name(entity) or _short(source_uri) or entity.name
    if source_uri:
        out["sourceUri"] = source_uri
    out["createdAt"] = body.get("CreationTime")
    if properties:
        out["properties"] = properties
    parsed = arns.parse(source_uri or "")
    if parsed is not None and parsed.resource_type == "model-package":
        out["modelPackageArn"] = source_uri
        out["name"] = parsed.resource
    if vertex.type == "Endpoint" and parsed is not None:
        out["endpointArn"], out["endpointName"] = source_uri, parsed.resource
    if vertex.type == "ModelDeployment" and properties.get("Change"):
        change = int(properties["Change"])
        name = properties.get("EndpointName", "")
        out["endpointName"], out["change"] = name, change
        rows = [d for d in deployments if d.endpoint_name.lower() == name.lower() and d.change == change]
        if rows:
            out["endpointArn"] = rows[0].endpoint_arn
            out["liveFrom"] = _time(rows[0].live_us)
            out["liveUntil"] = _time(rows[0].ended_us) if rows[0].live_us is not None else None
    return out


def _short(uri: str | None) -> str | None:
    if not uri:
        return None
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri


def _merge(*graphs: Graph) -> tuple[dict[str, Vertex], dict[tuple[str, str], str | None]]:
    vertices: dict[str, Vertex] = {}
    edges: dict[tuple[str, str], str | None] = {}
    for graph in graphs:
        for arn, vertex in graph.vertices.items():
            vertices.setdefault(arn, vertex)
        for key, row in graph.edges.items():
            edges[key] = row.association_type
    return vertices, edges


async def version_lineage(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    group, version = request.path_params["group"], request.path_params["version"]
    region = request.query_params.get("region") or settings.default_region
    arn = arns.model_package(region, settings.account_id, group, version)
    try:
        depth = int(request.query_params.get("depth", MAX_DEPTH))
    except ValueError:
        return common.error(
            400, code="BadRequest", message="depth must be a number of associations (0 to 10)."
        )
    if not 0 <= depth <= MAX_DEPTH:
        return common.error(400, "depth must be between 0 and 10.")
    store = request.app.state.store
    await run_in_threadpool(lineage_backlog.catch_up, store, settings)
    with store.read() as tx:
        row = tx.get_package_by_arn(arn)
        if row is None:
            return common.error(404, f"ModelPackage {arn} does not exist.")
        artifact = package_artifact(tx, row)
        if artifact is None:
            return JSONResponse({"modelPackageArn": arn, "artifactArn": None, "vertices": [], "edges": []})
        upstream = walk(tx, [artifact], "Ascendants", depth)
        downstream = walk(tx, [artifact], "Descendants", depth)
        vertices, edges = _merge(upstream, downstream)
        deployments = tx.list_deployments(package_arn=arn)
        shown = [_vertex_json(tx, v, deployments) for v in vertices.values()]
    shown[0]["focus"] = True
    return JSONResponse(
        {
            "modelPackageArn": arn,
            "artifactArn": artifact.arn,
            "vertices": shown,
            "edges": [{"source": s, "destination": d, "type": t} for (s, d), t in edges.items()],
        }
    )


routes = [Route("/model-packages/{group}/{version:number}/lineage", version_lineage, methods=["GET"])]
