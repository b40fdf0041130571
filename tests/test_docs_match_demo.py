"""The docs name what the demo has, and show mutations the way clients should write them.

Every location code, SKU, seeded order id and global id named in README.md, docs/*.md and scripts/
exists in the data `oms serve --seed-if-empty` loads; every mutation example selects the `Error`
interface next to its success payload, so a refusal shows its code and message instead of `{}`.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from app.cli import build_parser
from app.repositories.database import Mongo
from app.services.demo_seed import CHANNELS, SeedSize, seed_demo

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "scripts").glob("*")])

LOCATION = re.compile(r"\b(?:ST-[A-Z]{2}-[A-Z]{3}-\d\d|DC-[A-Z]{2}-[A-Z]{3}|DS-[A-Z]{3,})\b")
SKU = re.compile(r"\bSKU-\d{5}\b")
SEEDED_ORDER = re.compile(rf"\b({'|'.join(c.id.upper() for c in CHANNELS)})-(1\d{{5}})\b")
NODE_ID = re.compile(r"node\(id: \\*\"([A-Za-z0-9+/=]{8,})\\*\"")


def _mentions(pattern: re.Pattern[str], group: int = 0) -> dict[str, list[str]]:
    """Each match of the pattern (or of its group) → the files that name it."""
    found: dict[str, list[str]] = {}
    for path in DOCS:
        for match in pattern.finditer(path.read_text()):
            found.setdefault(match.group(group), []).append(path.name)
    return found


async def test_names_in_the_docs_exist_in_the_demo_data(mongo: Mongo) -> None:
    demo = build_parser().parse_args(["serve", "--seed-if-empty"])  # the sizes and seed `make run` uses
    size = SeedSize(locations=demo.locations, skus=demo.skus, customers=demo.customers, orders=demo.orders)
    await seed_demo(mongo, size, seed=demo.seed)
    db = mongo.db

    locations = _mentions(LOCATION)
    assert {"DC-OH-COL", "ST-MA-BOS-01"} <= locations.keys()  # the pattern still finds the usual ones
    known = {doc["_id"] async for doc in db.locations.find({"_id": {"$in": list(locations)}}, {"_id": 1})}
    assert {code: files for code, files in locations.items() if code not in known} == {}

    skus = _mentions(SKU)
    known = {doc["_id"] async for doc in db.products.find({"_id": {"$in": list(skus)}}, {"_id": 1})}
    assert {sku: files for sku, files in skus.items() if sku not in known} == {}

    orders = _mentions(SEEDED_ORDER)
    assert orders
    known = {doc["external_id"] async for doc in db.orders.find({"external_id": {"$in": list(orders)}}, {"external_id": 1})}
    assert {external_id: files for external_id, files in orders.items() if external_id not in known} == {}

    for global_id, files in _mentions(NODE_ID, group=1).items():
        type_name, _, local_id = base64.b64decode(global_id).decode().partition(":")
        assert type_name == "Location" and await db.locations.count_documents({"_id": local_id}) == 1, (global_id, files)


def _mutation_fields() -> set[str]:
    schema = (ROOT / "schema.graphql").read_text()
    body = schema.split("\ntype Mutation {", 1)[1].split("\n}", 1)[0]
    return set(re.findall(r"(?m)^  (\w+)\(", body))


def _closing(text: str, start: int, pair: str) -> int:
    """The index just after the bracket that closes the one at `start`."""
    depth = 0
    for index in range(start, len(text)):
        depth += (text[index] == pair[0]) - (text[index] == pair[1])
        if depth == 0:
            return index + 1
    raise AssertionError(f"unbalanced {pair} from {text[start:start + 80]!r}")


def _mutation_selections(text: str, fields: set[str]) -> list[tuple[str, str]]:
    """(field, selection set) of every `field(...) { ... }` call of a mutation field in the text.
    Prose such as `confirmPickup(input: {shipmentId})` has no selection set and is not an example."""
    calls = []
    for match in re.finditer(rf"\b({'|'.join(sorted(fields))})\(", text):
        after_arguments = _closing(text, match.end() - 1, "()")
        selection = re.match(r"\s*\{", text[after_arguments:])
        if selection:
            start = after_arguments + selection.end() - 1
            calls.append((match.group(1), text[start : _closing(text, start, "{}")]))
    return calls


def test_every_mutation_example_selects_the_error_interface() -> None:
    fields = _mutation_fields()
    assert {"captureOrder", "cancelOrder", "shipShipment"} <= fields
    examples = {path.name: _mutation_selections(path.read_text(), fields) for path in DOCS}
    assert len(examples["README.md"]) >= 15 and len(examples["fulfilment-walkthrough.sh"]) >= 5
    missing = [
        (name, field, selection[:120])
        for name, calls in examples.items()
        for field, selection in calls
        if not re.search(r"\.\.\. on Error \{[^}]*\bcode\b[^}]*\bmessage\b", selection)
    ]
    assert missing == []
