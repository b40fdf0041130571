"""Outbound webhook endpoints (ADMIN): register, change, delete, replay, and the delivery record.

Every change is validated first (bad input changes nothing), then written together with its audit
event in one transaction. The secret is generated (or given) at registration and returned once;
afterwards only a hint of it is shown. A new endpoint's cursor starts at the log's newest stamped
event: it receives what happens from now on (replay reaches back into retained history).
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import replace

from app.domain.clock import utcnow
from app.domain.errors import ErrorCode, FieldIssue, InvalidInput, NotFound, Validator
from app.domain.events import DomainEvent, field_changes
from app.domain.ids import new_id
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role, actor_of
from app.domain.webhooks import (
    ENDPOINT_AGGREGATE,
    MAX_REPLAY_EVENTS,
    DeliveryFilter,
    EndpointDraft,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookOptions,
    check_draft,
)
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.sequencer import RelayStateRepository
from app.repositories.webhooks import WebhookDeliveryRepository, WebhookEndpointRepository
from app.services.webhook_sender import target_refusal

MAX_REASON_LENGTH = 500


def _public(endpoint: WebhookEndpoint) -> dict[str, object]:
    """The endpoint as audited: never the secret."""
    return {
        "url": endpoint.url,
        "eventTypes": sorted(endpoint.event_types),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
    }


class WebhookService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        endpoints: WebhookEndpointRepository,
        deliveries: WebhookDeliveryRepository,
        events: EventRepository,
        relay_state: RelayStateRepository,
        options: WebhookOptions,
    ):
        self._mongo = mongo
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._events = events
        self._relay_state = relay_state
        self._options = options

    # --- reads -------------------------------------------------------------------------------------

    async def endpoints_page(self, principal: Principal, page: PageRequest) -> Page[WebhookEndpoint]:
        principal.require_role(Role.ADMIN)
        return await self._endpoints.page(page)

    async def endpoint(self, principal: Principal, endpoint_id: str) -> WebhookEndpoint | None:
        principal.require_role(Role.ADMIN)
        return await self._endpoints.get(endpoint_id)

    async def deliveries_page(self, principal: Principal, selection: DeliveryFilter, page: PageRequest) -> Page[WebhookDelivery]:
        principal.require_role(Role.ADMIN)
        return await self._deliveries.page(selection, page)

    # --- changes -----------------------------------------------------------------------------------

    async def register(
        self, principal: Principal, draft: EndpointDraft, *, reason: str | None = None
    ) -> tuple[WebhookEndpoint, str]:
        """The endpoint and its secret (the only time the secret is returned)."""
        principal.require_role(Role.ADMIN)
        await self._validate(draft, reason, creating=True)
        at = utcnow()
        endpoint = WebhookEndpoint(
            id=new_id(),
            url=draft.url or "",
            event_types=frozenset(draft.event_types or ()),
            description=draft.description,
            status=EndpointStatus.ACTIVE if draft.enabled is not False else EndpointStatus.DISABLED,
            secret=draft.secret or new_secret(),
            cursor=0,
            created_at=at,
            updated_at=at,
            created_by=principal.subject,
        )

        async def work(session: Session) -> WebhookEndpoint:
            # From now on: every event stamped after this one is the endpoint's.
            made = replace(endpoint, cursor=await self._relay_state.last_seq())
            await self._endpoints.insert(made, session=session)
            await self._audit(principal, "WebhookEndpointRegistered", made, {"endpoint": _public(made)}, reason, session)
            return made

        made = await self._mongo.transaction(work)
        return made, made.secret

    async def update(
        self,
        principal: Principal,
        endpoint_id: str,
        draft: EndpointDraft,
        *,
        rotate_secret: bool = False,
        reason: str | None = None,
    ) -> tuple[WebhookEndpoint, str | None]:
        """Changes what is given; a new secret (given, or generated with `rotate_secret`) is
        returned once. Disabling keeps the endpoint's cursor: when enabled again it receives what
        happened meanwhile (within the log's retention)."""
        principal.require_role(Role.ADMIN)
        await self._validate(draft, reason, creating=False)
        new = draft.secret or (new_secret() if rotate_secret else None)

        async def work(session: Session) -> WebhookEndpoint:
            current = await self._require(endpoint_id, session=session)
            changed = replace(
                current,
                url=draft.url if draft.url is not None else current.url,
                event_types=frozenset(draft.event_types) if draft.event_types is not None else current.event_types,
                description=draft.description if draft.description is not None else current.description,
                status=(
                    current.status if draft.enabled is None
                    else EndpointStatus.ACTIVE if draft.enabled else EndpointStatus.DISABLED
                ),
                secret=new or current.secret,
            )
            changes: dict[str, object] = field_changes(_public(current), _public(changed))
            if new is not None:
                changes["secret"] = {"rotated": True}  # never the value
            if not changes:
                return current
            changed = replace(changed, updated_at=utcnow(), version=current.version + 1)
            if not await self._endpoints.replace(changed, expected_version=current.version, session=session):
                raise NotFound(f"unknown webhook endpoint {endpoint_id}", field=("endpointId",))
            await self._audit(principal, "WebhookEndpointUpdated", changed, {"changes": changes}, reason, session)
            return changed

        return await self._mongo.transaction(work), new

    async def delete(self, principal: Principal, endpoint_id: str, *, reason: str | None = None) -> int:
        """Deletes the endpoint and its delivery record; the number of deliveries deleted."""
        principal.require_role(Role.ADMIN)
        self._check_reason(reason)

        async def work(session: Session) -> int:
            current = await self._require(endpoint_id, session=session)
            await self._endpoints.delete(endpoint_id, session=session)
            deleted = await self._deliveries.delete_for_endpoint(endpoint_id, session=session)
            await self._audit(
                principal, "WebhookEndpointDeleted", current, {"endpoint": _public(current), "deliveries": deleted}, reason, session
            )
            return deleted

        return await self._mongo.transaction(work)

    async def replay(
        self,
        principal: Principal,
        *,
        delivery_id: str | None = None,
        endpoint_id: str | None = None,
        after: int | None = None,
        upto: int | None = None,
        reason: str | None = None,
    ) -> tuple[WebhookEndpoint, int]:
        """Sends again one delivery (whatever its status), or an endpoint's matching events with
        after < seq <= upto (upto: the endpoint's cursor by default; at most MAX_REPLAY_EVENTS).
        Replayed deliveries start a fresh round of attempts, in log order per aggregate as usual."""
        principal.require_role(Role.ADMIN)
        self._check_reason(reason)
        check = Validator()
        check.check((delivery_id is None) != (endpoint_id is None), "give either deliveryId or endpointId", "deliveryId")
        if delivery_id is not None:
            check.check(after is None and upto is None, "a range goes with endpointId", "afterCursor")
        else:
            check.check(after is not None, "the range starts after this cursor (0: the oldest retained)", "afterCursor")
            check.check(upto is None or after is None or upto > after, "upToCursor must be after afterCursor", "upToCursor")
        check.raise_if_any()
        if delivery_id is not None:
            found = await self._deliveries.get(delivery_id)
            if found is None:
                raise NotFound(f"unknown webhook delivery {delivery_id}", field=("deliveryId",))
            endpoint_id = found.endpoint_id
        assert endpoint_id is not None
        endpoint = await self._require(endpoint_id)
        events: list[DomainEvent] = []
        if delivery_id is None:
            assert after is not None
            end = min(upto if upto is not None else endpoint.cursor, endpoint.cursor)
            events = await self._events.between(
                after, end, endpoint.selection(), limit=MAX_REPLAY_EVENTS + 1, excluded_aggregates=(ENDPOINT_AGGREGATE,)
            )
            if len(events) > MAX_REPLAY_EVENTS:
                raise InvalidInput(
                    [FieldIssue(ErrorCode.INVALID_INPUT, f"more than {MAX_REPLAY_EVENTS} events: narrow the range", ("upToCursor",))]
                )

        async def work(session: Session) -> int:
            at = utcnow()
            if delivery_id is not None:
                count = 1 if await self._deliveries.requeue_one(delivery_id, at=at, session=session) else 0
                payload: dict[str, object] = {"deliveryId": delivery_id, "count": count}
            else:
                count = await self._deliveries.requeue(endpoint.id, events, at=at, session=session)
                payload = {"afterCursor": after, "upToCursor": events[-1].seq if events else None, "count": count}
            await self._audit(principal, "WebhookDeliveriesReplayed", endpoint, payload, reason, session)
            return count

        return endpoint, await self._mongo.transaction(work)

    # --- helpers -----------------------------------------------------------------------------------

    async def _validate(self, draft: EndpointDraft, reason: str | None, *, creating: bool) -> None:
        check = Validator()
        check_draft(check, draft, creating=creating)
        check.check(reason is None or len(reason) <= MAX_REASON_LENGTH, f"at most {MAX_REASON_LENGTH} characters", "reason")
        if draft.url is not None and not any(issue.field == ("url",) for issue in check.issues):
            refusal = await target_refusal(draft.url, allow_private=self._options.allow_private_targets)
            check.check(refusal is None, refusal or "", "url")
        check.raise_if_any()

    def _check_reason(self, reason: str | None) -> None:
        check = Validator()
        check.check(reason is None or len(reason) <= MAX_REASON_LENGTH, f"at most {MAX_REASON_LENGTH} characters", "reason")
        check.raise_if_any()

    async def _require(self, endpoint_id: str, *, session: Session | None = None) -> WebhookEndpoint:
        found = await self._endpoints.get(endpoint_id, session=session)
        if found is None:
            raise NotFound(f"unknown webhook endpoint {endpoint_id}", field=("endpointId",))
        return found

    async def _audit(
        self,
        principal: Principal,
        kind: str,
        endpoint: WebhookEndpoint,
        payload: dict[str, object],
        reason: str | None,
        session: Session,
    ) -> None:
        event = DomainEvent(
            id=new_id(),
            type=kind,
            aggregate_type=ENDPOINT_AGGREGATE,
            aggregate_id=endpoint.id,
            at=utcnow(),
            actor=actor_of(principal),
            payload=payload,
            reason=reason,
        )
        await self._events.append([event], session=session)


def new_secret() -> str:
    return "whsec_" + _secrets.token_urlsafe(32)
