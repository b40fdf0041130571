"""The floor under storeAvailability: the same $geoNear behind the thinnest HTTP endpoint this stack
allows (uvicorn + Starlette + PyMongo async, JSON in and out, no GraphQL, no auth, no budget).
bench/store_availability.py runs it beside the API and the raw query; what the API costs above it
is GraphQL and the OMS's own work, what it costs above the raw query is HTTP and JSON.

    MONGODB_URI=... .venv/bin/python -m uvicorn bench.store_availability_floor:app --port 8765
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.repositories.database import connect

DATABASE = os.environ.get("OMS_DB_NAME", "bench_store_availability")


def _pipeline(sku: str, lat: float, lng: float) -> list[dict]:
    # bench/store_availability.py _raw_pipeline, kept apart so this module imports nothing of the bench
    return [
        {
            "$geoNear": {
                "near": {"type": "Point", "coordinates": [lng, lat]},
                "key": "point",
                "distanceField": "distance_m",
                "maxDistance": 50_000.0,
                "spherical": True,
                "query": {"sku": sku, "location_kind": "STORE", "location_active": {"$ne": False}, "available": {"$gt": 0}},
            }
        },
        {"$project": {"_id": 0, "sku": 1, "location_id": 1, "available": 1, "distance_m": 1}},
        {"$limit": 10},
    ]


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    client = connect(os.environ["MONGODB_URI"])
    app.state.db = client[DATABASE]
    yield
    await client.close()


async def lookup(request: Request) -> Response:
    variables = json.loads(await request.body())["variables"]
    rows = await (await request.app.state.db.inventory.aggregate(_pipeline(variables["sku"], variables["lat"], variables["lng"]))).to_list()
    found = [
        {"locationCode": r["location_id"], "distanceKm": round(r["distance_m"] / 1000, 3), "items": [{"sku": r["sku"], "available": r["available"]}]}
        for r in rows
    ]
    return Response(json.dumps({"data": {"storeAvailability": found}}), media_type="application/json")


async def ready(request: Request) -> Response:
    return Response("ok")


app = Starlette(routes=[Route("/graphql", lookup, methods=["POST"]), Route("/readyz", ready)], lifespan=_lifespan)
