// One order: its timeline, allocations with the routing explanation, shipments and tracking; the
// timeline grows live from orderUpdated(orderId).
import { isDenied, query } from "./api.js";
import { follow } from "./feeds.js";
import { h, invalidate, received, replace, time } from "./render.js";

const ORDER = `query($id: ID!) {
  order(id: $id) {
    id externalId channelCode status createdAt itemCount
    customer { displayName }
    totals { total { amount currency } }
    delivery { method pickupLocationCode address { city region postalCode } }
    hold { reason placedBy }
    lines { id sku name quantity allocatedQuantity backorderedQuantity cancelledQuantity }
    allocations { id sku locationCode quantity status }
    routing {
      summary
      decisions { step locationCode score reason runnerUpCode runnerUpScore }
      candidates { locationCode locationName rank totalScore outcome distanceKm note }
    }
    shipments {
      id number status locationCode trackingNumber eta late
      trackingEvents { id kind occurredAt description location }
    }
    timeline { id cursor type at reason actor { subject role } }
  }
}`;
const UPDATES = `subscription($orderId: ID!, $after: String) {
  orderUpdated(orderId: $orderId, after: $after) { cursor status event { id cursor type at reason actor { subject role } } }
}`;

function table(headings, rows) {
  return h("table", {}, h("tr", {}, headings.map((t) => h("th", {}, t))), rows);
}

export function orderDetail(client, root, orderId) {
  const box = h("div", { class: "order", id: "order-detail" }, h("p", {}, "Loading…"));
  replace(root, h("p", {}, h("a", { href: "#/" }, "← Overview")), box);
  let order = null;
  let stop = () => {};

  const draw = () => {
    if (!order) return;
    const r = order.routing;
    replace(
      box,
      h("h2", {}, `Order ${order.externalId} `, h("span", { class: "status", id: "order-status" }, order.status)),
      h(
        "p",
        {},
        `${order.channelCode} · ${order.customer ? order.customer.displayName : "customer hidden"} · ${order.itemCount} item(s) · `,
        `${order.totals.total.amount} ${order.totals.total.currency} · placed ${new Date(order.createdAt).toLocaleString()}`,
        order.hold ? h("strong", {}, ` · on hold: ${order.hold.reason}`) : null,
      ),
      h("h3", {}, "Lines"),
      table(
        ["SKU", "Name", "Qty", "Allocated", "Backordered", "Cancelled"],
        order.lines.map((l) => h("tr", {}, [l.sku, l.name, l.quantity, l.allocatedQuantity, l.backorderedQuantity, l.cancelledQuantity].map((v) => h("td", {}, v)))),
      ),
      h("h3", {}, "Allocations"),
      table(
        ["SKU", "Location", "Qty", "Status"],
        order.allocations.map((a) => h("tr", {}, [a.sku, a.locationCode, a.quantity, a.status].map((v) => h("td", {}, v)))),
      ),
      h("h3", {}, "Why it was routed there"),
      r
        ? h(
            "div",
            { class: "routing", id: "routing" },
            h("p", {}, r.summary),
            h(
              "ol",
              {},
              r.decisions.map((d) =>
                h(
                  "li",
                  {},
                  h("strong", {}, d.locationCode),
                  ` (score ${d.score.toFixed(2)}${d.runnerUpCode ? `, runner-up ${d.runnerUpCode} ${d.runnerUpScore.toFixed(2)}` : ""}): ${d.reason}`,
                ),
              ),
            ),
            table(
              ["Rank", "Candidate", "Distance", "Score", "Outcome", "Note"],
              r.candidates.map((c) =>
                h(
                  "tr",
                  {},
                  [c.rank ?? "", `${c.locationCode} ${c.locationName}`, c.distanceKm == null ? "" : `${c.distanceKm.toFixed(0)} km`,
                    c.totalScore == null ? "" : c.totalScore.toFixed(2), c.outcome, c.note].map((v) => h("td", {}, v)),
                ),
              ),
            ),
          )
        : h("p", { class: "quiet" }, "Not routed."),
      h("h3", {}, "Shipments and tracking"),
      order.shipments.length
        ? order.shipments.map((s) =>
            h(
              "div",
              { class: "shipment" },
              h("p", {}, h("strong", {}, s.number), ` ${s.status} from ${s.locationCode}`, s.trackingNumber ? ` · tracking ${s.trackingNumber}` : "", s.eta ? ` · ETA ${s.eta}` : "", s.late ? " · late" : ""),
              s.trackingEvents.length
                ? h("ol", {}, s.trackingEvents.map((t) => h("li", {}, h("time", {}, new Date(t.occurredAt).toLocaleString()), ` ${t.kind} ${t.location || ""} ${t.description || ""}`)))
                : null,
            ),
          )
        : h("p", { class: "quiet" }, "No shipment yet."),
      h("h3", {}, "Timeline"),
      h(
        "ol",
        { class: "timeline", id: "timeline" },
        [...order.timeline].reverse().map((e) =>
          h("li", { "data-cursor": e.cursor || "" }, h("time", {}, new Date(e.at).toLocaleString()), ` ${e.type} by ${e.actor.subject} (${e.actor.role})`, e.reason ? ` — ${e.reason}` : ""),
        ),
      ),
    );
  };

  let subscribed = false;
  let reloadTimer = null;
  const load = async () => {
    const { data, errors } = await query(ORDER, { id: orderId });
    if (errors || !data || !data.order) {
      replace(box, h("p", { class: "denied" }, errors && isDenied(errors) ? "Your role may not see this order." : "No such order (or not one you may see)."));
      return;
    }
    order = data.order;
    invalidate(draw);
    if (subscribed) return;
    subscribed = true;
    // Live from the newest event already shown, so the timeline neither misses nor repeats one.
    const after = order.timeline.map((e) => e.cursor).filter(Boolean).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)).pop() || null;
    stop = follow(client, {
      query: UPDATES,
      variables: { orderId, after },
      field: "orderUpdated",
      onItem: () => {
        received();
        // Allocations, shipments and routing may all have changed: read the order again, at most every 500 ms.
        if (reloadTimer === null) reloadTimer = setTimeout(() => ((reloadTimer = null), load()), 500);
      },
    });
  };
  load();
  return () => {
    stop();
    if (reloadTimer !== null) clearTimeout(reloadTimer);
  };
}
