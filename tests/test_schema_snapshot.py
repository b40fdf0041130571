"""schema.graphql is what clients code against: it must match the code."""

from __future__ import annotations

from graphql_schema.export import SNAPSHOT, sdl
from graphql_schema.schema import schema


def test_checked_in_sdl_matches_the_code() -> None:
    assert SNAPSHOT.read_text() == sdl(), "schema.graphql is stale: run `make schema` and commit it"


def test_every_type_and_field_has_a_description() -> None:
    missing = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID", "DateTime", "Date", "Decimal", "JSON"}:
            continue
        if not graphql_type.description and not name.endswith(("Edge",)):
            missing.append(name)
    assert not missing, f"types without a description: {missing}"


def test_root_fields_clients_rely_on_exist() -> None:
    query = schema._schema.query_type
    assert query is not None
    for field in ("node", "customer", "customers", "order", "orderByExternalId", "orders", "product",
                  "inventory", "storeAvailability", "locations", "channels"):
        assert field in query.fields, field
