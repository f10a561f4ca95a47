"""``/api/deliveries``: every event delivery, its attempts, and redelivery."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelreg.api import common
from modelreg.events.delivery import delivery_json
from modelreg.store.rows import DeliveryQuery

STATUSES = ("pending", "succeeded", "dead")
_MAX_ID = 2**63 - 1  # the largest id either database stores


async def list_deliveries(request: Request) -> JSONResponse:
    """Newest first. Filters: ``rule``, ``status`` (pending|succeeded|dead), ``limit`` (at most 500)
    and ``before`` (a delivery id, for the next page)."""
    q = request.query_params
    status = q.get("status")
    if status is not None and status not in STATUSES:
        return common.error(400, f"status must be one of {', '.join(STATUSES)}")
    try:
        limit = min(500, max(1, int(q.get("limit", "100"))))
        before = int(q["before"]) if "before" in q else None
    except ValueError:
        return common.error(400, "limit and before must be integers")
    if before is not None:
        before = max(0, min(before, _MAX_ID))  # past every id: the newest; below: none
    query = DeliveryQuery(rule_name=q.get("rule"), status=status)
    with common.store(request).read() as tx:
        rows = tx.list_deliveries(query, before, limit)
    return JSONResponse({"deliveries": [delivery_json(d) for d in rows]})


async def get_delivery(request: Request) -> JSONResponse:
    delivery_id = request.path_params["id"]
    with common.store(request).read() as tx:
        delivery = tx.get_delivery(delivery_id)
        attempts = tx.list_attempts(delivery_id) if delivery else []
    if delivery is None:
        return common.error(404, f"delivery {delivery_id} does not exist")
    return JSONResponse(delivery_json(delivery, attempts))


async def redeliver(request: Request) -> JSONResponse:
    """Send a delivery again now, whatever its status (a dead letter, or one that succeeded)."""
    delivery_id = request.path_params["id"]
    with common.store(request).write() as tx:
        delivery = tx.get_delivery(delivery_id)
        if delivery is None:
            return common.error(404, f"delivery {delivery_id} does not exist")
        delivery.status = "pending"
        delivery.next_attempt_us = 0
        tx.update_delivery(delivery)
    return JSONResponse(delivery_json(delivery), status_code=202)


routes = [
    Route("/deliveries", list_deliveries, methods=["GET"]),
    Route("/deliveries/{id:number}", get_delivery, methods=["GET"]),
    Route("/deliveries/{id:number}/redeliver", redeliver, methods=["POST"]),
]
