#!/usr/bin/env bash
# Fulfilment walkthrough: capture → pick → pack → ship → track → deliver, with curl.
set -euo pipefail
OUT=${OUT:-/tmp/oms-walkthrough}; mkdir -p "$OUT"
OMS=${OMS:-http://127.0.0.1:8000}
gql() { curl -s "$OMS/graphql" -H 'Content-Type: application/json' -d "$(jq -n --arg q "$1" --argjson v "${2:-{\}}" '{query:$q, variables:$v}')"; }

# 1. Capture an order (routing picks the location and reserves stock; its shipment is planned in the same transaction).
ORDER=$(gql 'mutation($i: CaptureOrderInput!) { captureOrder(input: $i) { ... on CaptureOrderPayload { order { id status } } ... on Error { code message } } }' \
  '{"i": {"channel": "web", "externalId": "WEB-DEMO-'"$(date +%s)"'", "customer": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"},
         "lines": [{"sku": "SKU-00002", "quantity": 1}, {"sku": "SKU-00009", "quantity": 2}],
         "delivery": {"method": "SHIP", "address": {"name": "Ada Lovelace", "line1": "77 Mass Ave", "city": "Cambridge", "region": "MA", "postalCode": "02139"},
                      "point": {"lat": 42.3601, "lng": -71.0942}}}}' | jq -r '.data.captureOrder.order.id')
echo "order $ORDER"

# 2. Its shipment, ETA and where it ships from.
SHIP=$(gql 'query($id: ID!) { order(id: $id) { status eta shipments { id number status locationCode eta lines { id sku quantity } } } }' "{\"id\": \"$ORDER\"}")
echo "$SHIP" | jq -c '.data.order'
SID=$(echo "$SHIP" | jq -r '.data.order.shipments[0].id'); LOC=$(echo "$SHIP" | jq -r '.data.order.shipments[0].locationCode')

# 3. The location's pick list (walking order, totes, handling) and its PDF.
gql 'query($loc: String!) { pickList(locationId: $loc) { unitCount pdfUrl lines { sequence sku quantity bin { code } shares { tote quantity } } } }' "{\"loc\": \"$LOC\"}" | tee $OUT/pick.json | jq -c '.data.pickList.lines'
curl -s -o $OUT/pick-list.pdf "$OMS$(jq -r '.data.pickList.pdfUrl' $OUT/pick.json)"

# 4. Pick, confirm every line, pack.
gql 'mutation($s: ID!) { startPicking(input: {shipmentIds: [$s]}) { __typename ... on Error { code message } } }' "{\"s\": \"$SID\"}" | jq -c .
LINES=$(echo "$SHIP" | jq -c '[.data.order.shipments[0].lines[] | {lineId: .id, pickedQuantity: .quantity}]')
gql 'mutation($s: ID!, $l: [PickedLineInput!]!) { confirmPick(input: {shipmentId: $s, lines: $l}) { ... on ConfirmPickPayload { shipment { status } } ... on Error { code message } } }' \
  "{\"s\": \"$SID\", \"l\": $LINES}" | jq -c .
gql 'mutation($s: ID!) { packShipment(input: {shipmentId: $s, packages: [{weightGrams: 1800, lengthCm: 40, widthCm: 30, heightCm: 20}]}) { ... on PackShipmentPayload { shipment { status } } ... on Error { code message } } }' \
  "{\"s\": \"$SID\"}" | jq -c .

# 5. Rate-shop, then buy the label: stock on hand and reserved fall together.
gql 'query($s: ID!) { shippingRates(shipmentId: $s) { policy recommended { carrier service amount { amount } estimatedDelivery } quotes { carrier service amount { amount } estimatedDelivery } } }' "{\"s\": \"$SID\"}" | jq -c '.data.shippingRates.recommended'
gql 'mutation($s: ID!) { shipShipment(input: {shipmentId: $s, policy: CHEAPEST_ON_TIME}) { ... on ShipShipmentPayload { shipment { status trackingNumber eta label { carrier serviceName } labelUrl packingSlipUrl } } ... on Error { code message } } }' \
  "{\"s\": \"$SID\"}" | tee $OUT/ship.json | jq -c '.data.shipShipment.shipment | {status, trackingNumber, eta, label: .label}'
TRACK=$(jq -r '.data.shipShipment.shipment.trackingNumber' $OUT/ship.json); CARRIER=$(jq -r '.data.shipShipment.shipment.label.carrier' $OUT/ship.json)
curl -s -o $OUT/label.pdf "$OMS$(jq -r '.data.shipShipment.shipment.labelUrl' $OUT/ship.json)"
curl -s -o $OUT/packing-slip.pdf "$OMS$(jq -r '.data.shipShipment.shipment.packingSlipUrl' $OUT/ship.json)"

# 6. The carrier pushes tracking events: HMAC-SHA256 over "<timestamp>.<nonce>.<body>" with the carrier's secret.
SECRET=${SECRET:-dev-carrier-webhook-secret}
track() {
  local body ts nonce sig
  body=$(jq -cn --arg id "$1" --arg t "$TRACK" --arg k "$2" --arg at "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" '{events: [{id: $id, trackingNumber: $t, type: $k, occurredAt: $at}]}')
  ts=$(date +%s); nonce=$(openssl rand -hex 16)
  sig=$(printf '%s.%s.%s' "$ts" "$nonce" "$body" | openssl dgst -sha256 -hmac "$SECRET" -hex | sed 's/^.* //')
  curl -s "$OMS/webhooks/carriers/$CARRIER" -H "X-OMS-Signature: t=$ts,n=$nonce,v1=$sig" -H 'Content-Type: application/json' -d "$body"; echo
}
track evt-1 PICKED_UP; track evt-2 OUT_FOR_DELIVERY; track evt-3 DELIVERED
track evt-3 DELIVERED   # a carrier retry (new nonce): DUPLICATE, nothing changes

# 7. Delivered: the order rolled up from its shipment.
gql 'query($id: ID!) { order(id: $id) { status eta shipments { status eta trackingEvents { kind } } } }' "{\"id\": \"$ORDER\"}" | jq -c '.data.order'
