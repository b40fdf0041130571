// Store view: pick a store; its stock-level changes and pick-up orders, live.
import { isDenied, query } from "./api.js";
import { follow } from "./feeds.js";
import { Recent, h, invalidate, orderLink, received, replace, syncList, time } from "./render.js";

const STORES = `{ locations(filter: {kinds: [STORE]}) { code name } }`;
const PICKUPS = `query($code: String!) {
  orders(first: 50, filter: {locations: [$code], statuses: [ALLOCATED, PARTIALLY_ALLOCATED, IN_FULFILLMENT, READY_FOR_PICKUP, ON_HOLD]}) {
    edges { node { id externalId status createdAt itemCount customer { displayName } delivery { method pickupLocationCode } } }
  }
}`;
const STOCK = `subscription($code: String!, $after: String) {
  stockLevelChanged(locationIds: [$code], after: $after) { cursor sku onHand reserved available previousAvailable cause event { at orderId } }
}`;
const ORDER_MOVES = `subscription($after: String) {
  orderUpdated(statuses: [ALLOCATED, PARTIALLY_ALLOCATED, IN_FULFILLMENT, READY_FOR_PICKUP, PICKED_UP, CANCELLED], after: $after) { cursor orderId status }
}`;
const STOCK_ROWS = 40;
const PICKUP_REFRESH_MS = 1000;

export function storeView(client, root, code) {
  const picker = h("select", { id: "store-picker", onchange: (e) => (location.hash = `#/stores/${encodeURIComponent(e.target.value)}`) });
  const stock = h("ol", { class: "ticker", id: "store-stock" });
  const pickups = h("table", { class: "counts", id: "store-pickups" });
  replace(
    root,
    h("p", {}, h("a", { href: "#/" }, "← Overview"), " · Store ", picker),
    code
      ? h(
          "div",
          { class: "grid" },
          h("section", { class: "panel" }, h("h2", {}, `Pick-up orders at ${code}`), pickups),
          h("section", { class: "panel" }, h("h2", {}, `Stock changes at ${code}`), stock),
        )
      : h("p", {}, "Pick a store."),
  );
  query(STORES).then(({ data }) => {
    const stores = (data && data.locations) || [];
    replace(picker, h("option", { value: "" }, "—"), stores.map((s) => h("option", { value: s.code, selected: s.code === code }, `${s.code} ${s.name}`)));
  });
  if (!code) return () => {};

  const changes = new Recent(STOCK_ROWS, (c) => c.cursor);
  const drawStock = () =>
    syncList(
      stock,
      changes,
      (c) =>
        h(
          "li",
          { "data-cursor": c.cursor },
          h("time", {}, time(c.event.at)),
          h("strong", {}, c.sku),
          ` ${c.cause || ""}: available ${c.previousAvailable} → ${c.available} (on hand ${c.onHand}, reserved ${c.reserved}) `,
          c.event.orderId ? orderLink(c.event.orderId, "order") : null,
        ),
      "No change since this page opened.",
    );
  drawStock();

  let timer = null;
  const readPickups = async () => {
    timer = null;
    const { data, errors } = await query(PICKUPS, { code });
    if (errors) {
      replace(pickups, h("tr", {}, h("td", { class: "denied" }, isDenied(errors) ? "Your role may not see this store's orders." : errors[0].message)));
      return;
    }
    const orders = data.orders.edges.map((e) => e.node).filter((o) => o.delivery.method === "PICKUP_IN_STORE" && o.delivery.pickupLocationCode === code);
    replace(
      pickups,
      h("tr", {}, ["Order", "Status", "Customer", "Items", "Placed"].map((t) => h("th", {}, t))),
      orders.length
        ? orders.map((o) => h("tr", {}, h("td", {}, orderLink(o.id, o.externalId)), h("td", {}, o.status), h("td", {}, o.customer ? o.customer.displayName : ""), h("td", {}, o.itemCount), h("td", {}, time(o.createdAt))))
        : h("tr", {}, h("td", { class: "quiet" }, "No open pick-up order.")),
    );
  };
  const pickupsSoon = () => {
    if (timer === null) timer = setTimeout(readPickups, PICKUP_REFRESH_MS);
  };
  readPickups();

  const stops = [
    follow(client, {
      query: STOCK,
      variables: { code },
      field: "stockLevelChanged",
      onItem: (c) => {
        received();
        if (changes.add(c)) invalidate(drawStock);
      },
      onDenied: () => replace(stock, h("li", { class: "denied" }, "Your role may not see this store's stock.")),
    }),
    follow(client, {
      query: ORDER_MOVES,
      field: "orderUpdated",
      onItem: () => {
        received();
        pickupsSoon();
      },
    }),
  ];
  return () => {
    stops.forEach((stop) => stop());
    if (timer !== null) clearTimeout(timer);
  };
}
