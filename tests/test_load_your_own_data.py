"""The README's "Load your own data" section works as written: from an empty database to a
captured, routed order, using only the API and `oms import`, with an address without coordinates.

The section's shell blocks run in order in one bash (so `OMS_KEY` carries over), in a scratch
directory, against `oms serve` on a fresh database of the test's MongoDB (the block that starts the
server is the one thing not run: the test starts it, without demo data, on a free port). The
outputs the section's comments show must be what the commands print.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from app.repositories.database import Mongo
from bench.harness import server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTION = "Load your own data"
# What a `# {...}` comment shows ("key":value pairs), and what a `# <kind> import from …` comment shows.
SHOWN_JSON = re.compile(r'"\w+":(?:"[^"\n…]*"|-?\d+(?:\.\d+)?|true|false|null)(?=[,}\]])')
SHOWN_SUMMARY = re.compile(r"^# (\w+ import from [^;\n]+);", re.M)


def _blocks() -> list[str]:
    text = README.read_text()
    body = text.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", body, re.S)


def test_the_section_starts_a_server_without_demo_data_and_runs_the_rest_beside_it() -> None:
    blocks = _blocks()
    assert "oms serve" in blocks[0] and "--seed-if-empty" not in blocks[0] and "make run" not in blocks[0]
    rest = "\n".join(blocks[1:])
    assert "oms serve" not in rest and "oms seed" not in rest
    for kind in ("locations", "products", "stock", "customers"):
        assert f".venv/bin/oms import {kind} {kind}.csv" in rest
    assert "upsertChannel" in rest and "captureOrder" in rest and "apikey create" in rest


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_load_your_own_data_from_an_empty_database_to_a_routed_order(
    mongo: Mongo, mongodb_uri: str, database_name: str, tmp_path: Path
) -> None:
    # An empty database (indexes only): no demo data, no channel, no location, no key.
    assert [name for name in await mongo.db.list_collection_names() if await mongo.db[name].count_documents({})] == []
    steps = _blocks()[1:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_") and k != "MONGODB_URI"}
    env |= {"MONGODB_URI": mongodb_uri, "OMS_DB_NAME": database_name, "OMS_LOG_LEVEL": "WARNING"}
    with server(mongodb_uri, database_name) as (base, _):
        script = "set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; echo; }\n" + "\n".join(steps)
        script = script.replace("http://127.0.0.1:8000", base).replace(".venv/bin/oms", str(ROOT / ".venv" / "bin" / "oms"))
        completed = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    assert completed.returncode == 0, (completed.stdout, completed.stderr)
    output = completed.stdout
    answers = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [next(iter(answer["data"])) for answer in answers] == ["upsertChannel", "captureOrder"]

    captured = answers[-1]["data"]["captureOrder"]
    assert captured["__typename"] == "CaptureOrderPayload", captured
    order = captured["order"]
    assert order["status"] == "ALLOCATED"
    assert order["delivery"]["pointSource"] == "POSTAL_CODE" and order["routing"]["destinationSource"] == "POSTAL_CODE"
    assert [(a["sku"], a["locationCode"], a["quantity"]) for a in order["allocations"]] == [("MUG-BLUE", "ST-MA-BOS-01", 2)]
    assert order["customer"]["displayName"] == "Ada Lovelace"  # imported, then matched by email at capture

    # The store came without coordinates and was placed at its ZIP code's centre.
    store = await mongo.db["locations"].find_one({"_id": "ST-MA-BOS-01"})
    assert store is not None and store["point_source"] == "POSTAL_CODE"
    level = await mongo.db["inventory"].find_one({"_id": "MUG-BLUE@ST-MA-BOS-01"})
    assert level is not None and (level["on_hand"], level["reserved"]) == (12, 2)

    # What the section's comments show is what the commands printed.
    section = "\n".join(steps)
    shown = set(SHOWN_JSON.findall("\n".join(line for line in section.splitlines() if line.startswith("#"))))
    assert len(shown) >= 12
    assert {pair for pair in shown if pair not in output} == set()
    summaries = SHOWN_SUMMARY.findall(section)
    assert len(summaries) == 4 and [s for s in summaries if s not in output] == []
