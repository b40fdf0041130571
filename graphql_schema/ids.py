"""Global ids: decode, and refuse ids of the wrong type with a typed error."""

from __future__ import annotations

from strawberry import relay

from app.domain.errors import ErrorCode, FieldIssue, InvalidInput


def node_id_of(global_id: relay.GlobalID, type_name: str, *, field: str = "id") -> str:
    if global_id.type_name != type_name:
        raise InvalidInput(
            [FieldIssue(ErrorCode.INVALID_INPUT, f"expected the id of a {type_name}, got a {global_id.type_name}", (field,))]
        )
    return global_id.node_id
