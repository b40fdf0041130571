"""Relay global ids read outside the GraphQL layer, so the CLI and services accept the ids API
clients see. The format is Strawberry's (`strawberry.relay.to_base64`, which the GraphQL layer
uses through graphql_schema/ids.py): standard base64 of "<TypeName>:<node id>". Only decoding
lives here; GraphQL types are still the only code that makes global ids."""

from __future__ import annotations

import base64
import binascii


def decode_global_id(value: str) -> tuple[str, str] | None:
    """(type name, node id) when `value` is a well-formed global id, else None (a plain code or id)."""
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        return None
    type_name, separator, node_id = text.partition(":")
    if not separator or not node_id or not type_name.isidentifier():
        return None
    return type_name, node_id
