from __future__ import annotations

import httpx


async def test_healthz_and_readyz_report_process_and_primary(http: httpx.AsyncClient) -> None:
    health = await http.get("/healthz")
    ready = await http.get("/readyz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert health.headers["x-request-id"]
