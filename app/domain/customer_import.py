"""Customer import rows: one row, one customer, matched as capture matches them (by a channel
identity, else the email, else the phone) and created when nobody matches.

A row adds to what the OMS knows rather than replacing it: names, email and phone given replace
the stored ones (empty cells keep them), and the row's address and identity are added to the
customer's (one already there changes nothing; removing one is `upsertCustomer`'s job). So a
file that names each customer once per channel can be imported channel by channel, and a re-run
changes nothing. A row naming a channel the matched customer is known on by another id is
rejected: it may be another person (merging is `mergeCustomers`, which checks the same).

Columns (camelCase; headers match ignoring case, spaces, `_` and `-`), at least one of `email`,
`phone` or an identity per row:

- `firstName`, `lastName`, `email`, `phone`;
- one identity: `channel` (a channel code) and `externalId` (the channel's id for the customer);
  more in `identities`: `channel:externalId` separated by `|` (`amazon:A1B2|pos:LOY-7`) or a JSON
  array of `{channel, externalId}`;
- one address: `line1`, `line2`, `city`, `region`, `postalCode`, `country` (default US),
  `addressName`, `addressPhone`; more in `addresses`, a JSON array of objects with the fields of
  the API's AddressInput (`line1`, `city`, `postalCode`, `country`, `line2`, `region`, `name`, `phone`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from app.domain.addresses import MAX_ADDRESS_FIELD
from app.domain.customers import (
    MAX_EMAIL,
    MAX_EXTERNAL_ID,
    MAX_NAME,
    MAX_PHONE,
    ChannelIdentity,
    Customer,
    CustomerDraft,
    customer_from_draft,
    normalize_email,
    normalize_phone,
)
from app.domain.errors import Conflict, FieldIssue
from app.domain.imports import Column, RowIssue, RowValues, SourceRow
from app.domain.import_values import items, key, row_issues
from app.domain.locations import Address

# Address fields as the API names them → the flat column of the row's one address.
ADDRESS_COLUMNS = {
    "line1": "line1",
    "line2": "line2",
    "city": "city",
    "region": "region",
    "postalCode": "postalCode",
    "country": "country",
    "name": "addressName",
    "phone": "addressPhone",
}
CUSTOMER_COLUMNS = (
    Column("firstName"),
    Column("lastName"),
    Column("email"),
    Column("phone"),
    Column("channel"),
    Column("externalId"),
    Column("identities"),
    *(Column(column) for column in ADDRESS_COLUMNS.values()),
    Column("addresses"),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """A valid row's draft, and whether its first address and identity came from the flat
    columns (so an issue found at write time names the right column)."""

    draft: CustomerDraft
    flat_address: bool
    flat_identity: bool

    def issues(self, line: int, found: Iterable[FieldIssue]) -> list[RowIssue]:
        """Issues with paths of the draft (("addresses", "0", "city")) as the row's, by column."""

        def column(path: tuple[str, ...]) -> tuple[str, str]:
            if not path:
                return "", ""
            head = path[0]
            index = int(path[1]) if len(path) > 1 and path[1].isdigit() else None
            if head == "addresses" and index is not None:
                if self.flat_address and index == 0:
                    return ADDRESS_COLUMNS.get(path[2], "line1") if len(path) > 2 else "line1", ""
                return "addresses", f"address {index + (0 if self.flat_address else 1)}: "
            if head == "identities" and index is not None:
                if self.flat_identity and index == 0:
                    return (path[2] if len(path) > 2 else "channel"), ""
                return "identities", f"identity {index + (0 if self.flat_identity else 1)}: "
            return head, ""

        return row_issues(line, found, column)


def draft_customer(row: SourceRow) -> CustomerRow | list[RowIssue]:
    """The row's draft, checked with the rules of `upsertCustomer` (whether its channels exist and
    whose its keys are is for the writer), or its issues."""
    values = RowValues(row)
    first = values.text("firstName", max_length=MAX_NAME)
    last = values.text("lastName", max_length=MAX_NAME)
    email = values.text("email", max_length=MAX_EMAIL)
    phone = values.text("phone", max_length=MAX_PHONE)
    flat_identity = _flat_identity(values)
    identities = ([flat_identity] if flat_identity else []) + _listed_identities(values)
    flat_address = _flat_address(values)
    addresses = ([flat_address] if flat_address else []) + _listed_addresses(values)
    if values.issues:
        return values.issues
    shaped = CustomerRow(
        draft=CustomerDraft(
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            addresses=tuple(addresses) if addresses else None,
            identities=tuple(identities) if identities else None,
        ),
        flat_address=flat_address is not None,
        flat_identity=flat_identity is not None,
    )
    checked = customer_from_draft(shaped.draft, current=None, customer_id="row", at=_EPOCH)
    if isinstance(checked, list):
        return shaped.issues(row.line, checked)
    return shaped


def customer_keys_of(draft: CustomerDraft) -> list[str]:
    """The keys a row may match a customer by, normalized (rows sharing one concern one person)."""
    keys = [f"identity:{i.channel_id.strip()}:{i.external_id.strip()}" for i in draft.identities or ()]
    email, phone = normalize_email(draft.email), normalize_phone(draft.phone)
    return keys + ([f"email:{email}"] if email else []) + ([f"phone:{phone}"] if phone else [])


def with_row_added(row: CustomerDraft, current: Customer) -> CustomerDraft:
    """The row as applied to the customer it matched: its addresses and identities added to the
    customer's, not replacing them. Conflict on ("identities", i) when the customer is known on
    that channel by another id."""
    own = {identity.channel_id: identity.external_id for identity in current.identities}
    for index, identity in enumerate(row.identities or ()):
        channel, external = identity.channel_id.strip(), identity.external_id.strip()
        if channel in own and own[channel] != external:
            raise Conflict(
                f"the customer this row matches is known on {channel} as {own[channel]!r}, not {external!r}: "
                "it may be another person (mergeCustomers joins two customers; upsertCustomer changes an identity)",
                field=("identities", str(index)),
            )
    return replace(
        row,
        addresses=None if row.addresses is None else current.addresses + row.addresses,
        identities=None if row.identities is None else current.identities + row.identities,
    )


def _flat_identity(values: RowValues) -> ChannelIdentity | None:
    channel = values.text("channel", max_length=MAX_EXTERNAL_ID)
    external = values.text("externalId", max_length=MAX_EXTERNAL_ID)
    if channel is None and external is None:
        return None
    if channel is None or external is None:
        given, missing = ("channel", "externalId") if channel else ("externalId", "channel")
        if missing not in values.row.values:  # else it was given and is reported as it is
            values.problem(missing, f"required with {given}: an identity is a channel and the channel's id")
        return None
    return ChannelIdentity(channel, external)


def _listed_identities(values: RowValues) -> list[ChannelIdentity]:
    found = items(values, "identities") or []
    out: list[ChannelIdentity] = []
    for index, item in enumerate(found):
        channel: object = None
        external: object = None
        if isinstance(item, str):
            channel, _, external = item.partition(":")
        elif isinstance(item, dict):
            by_key = {key(name): value for name, value in item.items()}
            unknown = set(by_key) - {"channel", "externalid"}
            if unknown:
                values.problem("identities", f"identity {index + 1}: unknown field; expected channel, externalId")
                continue
            channel, external = by_key.get("channel"), by_key.get("externalid")
        if not isinstance(channel, str) or not isinstance(external, str) or not channel.strip() or not external.strip():
            values.problem("identities", f"identity {index + 1}: write it as channel:externalId or {{channel, externalId}}")
            continue
        out.append(ChannelIdentity(channel, external))
    return out


def _flat_address(values: RowValues) -> Address | None:
    given = {name: values.text(column, max_length=MAX_ADDRESS_FIELD) for name, column in ADDRESS_COLUMNS.items()}
    if all(value is None for name, value in given.items() if name != "country"):
        return None
    return _address(given)


def _listed_addresses(values: RowValues) -> list[Address]:
    found = items(values, "addresses") or []
    out: list[Address] = []
    by_key = {key(name): name for name in ADDRESS_COLUMNS}
    for index, item in enumerate(found):
        if not isinstance(item, dict):
            values.problem("addresses", f"address {index + 1}: must be an object with line1, city, postalCode, country, ...")
            continue
        fields: dict[str, str | None] = {}
        for given, value in item.items():
            name = by_key.get(key(given))
            if name is None:
                values.problem("addresses", f"address {index + 1}: unknown field {given!r}; expected {', '.join(ADDRESS_COLUMNS)}")
                break
            if value is not None and not isinstance(value, str):
                values.problem("addresses", f"address {index + 1}: {name} must be text")
                break
            fields[name] = value
        else:
            out.append(_address(fields))
    return out


def _address(fields: dict[str, str | None]) -> Address:
    return Address(
        line1=fields.get("line1") or "",
        city=fields.get("city") or "",
        postal_code=fields.get("postalCode") or "",
        country=fields.get("country") or "US",
        line2=fields.get("line2"),
        region=fields.get("region"),
        name=fields.get("name"),
        phone=fields.get("phone"),
    )
