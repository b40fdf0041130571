// The operations overview: orders per minute by channel, open orders by status, backorders,
// stock-outs, low-stock alerts, shipments by status per location, today's pick waves and the
// newest events. Each panel is hidden, with a note, when the caller's role may not see it.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { isDenied, query } from "./api.js";
import { follow, newer } from "./feeds.js";
import { Recent, h, invalidate, orderLink, received, replace, syncList, time } from "./render.js";

const DASHBOARD = `subscription {
  dashboard {
    at backorders stockOuts cursor
    ordersPerMinute { minute channel orders }
    openOrdersByStatus { status orders }
    recentEvents { id cursor type aggregateType aggregateId at orderId sku locationId actor { subject } }
  }
}`;
const ORDERS = `subscription($after: String) {
  orderUpdated(after: $after) { cursor orderId status event { id cursor type aggregateType aggregateId at orderId sku locationId actor { subject } } }
}`;
const STOCK = `subscription($after: String) {
  stockLevelChanged(after: $after) { cursor sku locationId available previousAvailable cause event { id cursor type aggregateType aggregateId at orderId sku locationId actor { subject } } }
}`;
const LOW_STOCK = `subscription($after: String) {
  lowStockAlerts(after: $after) { cursor sku locationId available reorderPoint event { id at orderId } }
}`;
const SHIPMENTS = `query($after: String) {
  shipments(first: 100, after: $after, filter: {statuses: [PENDING, PICKING, PICKED, PACKED, READY_FOR_PICKUP, EXCEPTION]}) {
    pageInfo { hasNextPage endCursor }
    edges { node { id number status locationCode statusAt order { id externalId } } }
  }
}`;
// Shipments read per refresh: open shipments are counted from at most this many.
const SHIPMENT_PAGES = 5;
const SHIPMENT_REFRESH_MS = 10_000;
const TICKER_ROWS = 40;
const ALERT_ROWS = 25;

function panel(id, title, ...body) {
  return h("section", { class: "panel", id }, h("h2", {}, title), ...body);
}

function denied(element, what) {
  replace(element, h("p", { class: "denied" }, `Your role may not see ${what}.`));
}

export function overview(client, root) {
  const chartBox = h("div", { class: "chart", id: "orders-chart" });
  const tiles = h("div", { class: "tiles", id: "tiles" });
  const statuses = h("table", { class: "counts", id: "open-orders" });
  const alerts = h("ol", { class: "alerts", id: "low-stock" });
  const shipments = h("table", { class: "counts", id: "shipments-by-location" });
  const waves = h("ol", { class: "waves", id: "pick-waves" });
  const ticker = h("ol", { class: "ticker", id: "ticker" });
  replace(
    root,
    h(
      "div",
      { class: "grid" },
      panel("panel-chart", "Orders per minute by channel", chartBox),
      panel("panel-ticker", "Newest events", ticker),
      panel("panel-figures", "Open orders", tiles, statuses),
      panel("panel-alerts", "Low-stock alerts", alerts),
      panel("panel-waves", "Today's pick waves", waves),
      panel("panel-shipments", "Shipments by status and location", shipments),
    ),
  );

  const events = new Recent(TICKER_ROWS, (e) => e.cursor || e.id);
  const lowStock = new Recent(ALERT_ROWS, (a) => a.cursor);
  let figures = null;
  let chart = null;

  const drawTicker = () =>
    syncList(
      ticker,
      events,
      (e) =>
        h(
          "li",
          { "data-cursor": e.cursor || "", "data-type": e.type },
          h("time", {}, time(e.at)),
          h("span", { class: "type" }, e.type),
          e.sku ? h("span", { class: "sku" }, `${e.sku} @ ${e.locationId}`) : null,
          e.orderId ? orderLink(e.orderId, "order") : null,
          h("span", { class: "actor" }, e.actor ? e.actor.subject : ""),
        ),
      "Nothing yet: events appear here as they happen.",
    );

  const drawAlerts = () =>
    syncList(
      alerts,
      lowStock,
      (a) =>
        h(
          "li",
          { "data-cursor": a.cursor },
          h("time", {}, time(a.event.at)),
          h("strong", {}, a.sku),
          ` at ${a.locationId}: ${a.available} left (reorder at ${a.reorderPoint}) `,
          a.event.orderId ? orderLink(a.event.orderId, "order") : null,
        ),
      "None since this page opened.",
    );

  const drawFigures = () => {
    if (!figures) return;
    replace(
      tiles,
      h("div", { class: "tile", id: "backorders" }, h("span", {}, "Backorders"), h("strong", {}, figures.backorders)),
      h("div", { class: "tile", id: "stock-outs" }, h("span", {}, "Stock-outs"), h("strong", {}, figures.stockOuts)),
      h("div", { class: "tile" }, h("span", {}, "Updated"), h("strong", {}, time(figures.at))),
    );
    replace(
      statuses,
      h("tr", {}, h("th", {}, "Status"), h("th", {}, "Orders")),
      figures.openOrdersByStatus.map((s) => h("tr", {}, h("td", {}, s.status), h("td", {}, s.orders))),
    );
    drawChart(figures.ordersPerMinute, figures.at);
  };

  const drawChart = (rows, at) => {
    // The last 15 minutes, each one on the axis even when no order came in it.
    const now = Math.floor(Date.parse(at) / 60000) * 60;
    const minutes = Array.from({ length: 15 }, (_, i) => now - (14 - i) * 60);
    const channels = [...new Set(rows.map((r) => r.channel))].sort();
    const index = new Map(minutes.map((m, i) => [m, i]));
    const series = channels.map(() => minutes.map(() => 0));
    for (const r of rows) {
      const i = index.get(Date.parse(r.minute) / 1000);
      if (i !== undefined) series[channels.indexOf(r.channel)][i] = r.orders;
    }
    const data = [minutes, ...series];
    const key = channels.join(",");
    if (!chart || chart.key !== key) {
      if (chart) chart.plot.destroy();
      const palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
      const plot = new uPlot(
        {
          width: Math.max(320, chartBox.clientWidth || 600),
          scales: { y: { range: (u, min, max) => [0, Math.max(5, max)] } },
          height: 220,
          series: [{}, ...channels.map((c, i) => ({ label: c, stroke: palette[i % palette.length], width: 2 }))],
          axes: [{}, { label: "orders / min" }],
        },
        data,
        chartBox,
      );
      chart = { plot, key };
    } else {
      chart.plot.setData(data);
    }
  };

  // The highest cursor the ticker has shown: the dashboard's `recentEvents` repeat what the feeds
  // already brought (and what already scrolled off), so from them only newer events are taken.
  let shownUpTo = null;
  const addEvent = (event, onlyNewer = false) => {
    if (!event) return;
    if (onlyNewer && shownUpTo !== null && !(event.cursor && newer(event.cursor, shownUpTo))) return;
    if (!events.add(event)) return;
    if (event.cursor && newer(event.cursor, shownUpTo)) shownUpTo = event.cursor;
    invalidate(drawTicker);
  };

  const stops = [
    follow(client, {
      query: DASHBOARD,
      field: "dashboard",
      onItem: (d) => {
        received();
        figures = d;
        // Oldest first, so the newest ends on top of the ticker.
        [...d.recentEvents].reverse().forEach((e) => addEvent(e, true));
        invalidate(drawFigures);
      },
      onDenied: () => {
        denied(chartBox, "operations figures");
        denied(tiles, "operations figures");
        replace(statuses);
      },
    }),
    follow(client, {
      query: ORDERS,
      field: "orderUpdated",
      onItem: (u) => {
        received();
        addEvent(u.event);
        shipmentsSoon();
      },
      onDenied: () => denied(ticker, "order events"),
    }),
    follow(client, {
      query: STOCK,
      field: "stockLevelChanged",
      onItem: (s) => {
        received();
        addEvent(s.event);
      },
    }),
    follow(client, {
      query: LOW_STOCK,
      field: "lowStockAlerts",
      onItem: (a) => {
        received();
        if (lowStock.add(a)) invalidate(drawAlerts);
      },
      onDenied: () => denied(alerts, "low-stock alerts"),
    }),
  ];
  drawAlerts();
  drawTicker();

  // Shipments have no page-wide subscription: they are re-read at most every 10 s, when orders move.
  let shipmentTimer = null;
  let lastShipmentRead = 0;
  function shipmentsSoon() {
    if (shipmentTimer !== null) return;
    const wait = Math.max(0, lastShipmentRead + SHIPMENT_REFRESH_MS - Date.now());
    shipmentTimer = setTimeout(readShipments, wait);
  }
  async function readShipments() {
    lastShipmentRead = Date.now();
    const nodes = [];
    let after = null;
    for (let page = 0; page < SHIPMENT_PAGES; page++) {
      const { data, errors } = await query(SHIPMENTS, { after });
      if (errors) {
        shipmentTimer = null;
        if (isDenied(errors)) {
          denied(shipments, "shipments");
          denied(waves, "pick waves");
        }
        return;
      }
      nodes.push(...data.shipments.edges.map((e) => e.node));
      if (!data.shipments.pageInfo.hasNextPage) break;
      after = data.shipments.pageInfo.endCursor;
    }
    shipmentTimer = null;
    drawShipments(nodes);
  }

  function drawShipments(nodes) {
    const statusNames = ["PENDING", "PICKING", "PICKED", "PACKED", "READY_FOR_PICKUP", "EXCEPTION"];
    const byLocation = new Map();
    for (const s of nodes) {
      const counts = byLocation.get(s.locationCode) || Object.fromEntries(statusNames.map((n) => [n, 0]));
      counts[s.status] += 1;
      byLocation.set(s.locationCode, counts);
    }
    replace(
      shipments,
      h("tr", {}, h("th", {}, "Location"), statusNames.map((n) => h("th", {}, n.replaceAll("_", " ").toLowerCase()))),
      [...byLocation.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([code, counts]) =>
          h("tr", {}, h("td", {}, h("a", { href: `#/stores/${encodeURIComponent(code)}` }, code)), statusNames.map((n) => h("td", {}, counts[n] || ""))),
        ),
    );
    // A wave is the shipments a location started picking together (startPicking stamps them alike).
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const wavesByKey = new Map();
    for (const s of nodes) {
      if (s.status !== "PICKING" || !s.statusAt || Date.parse(s.statusAt) < midnight.getTime()) continue;
      const key = `${s.locationCode} ${s.statusAt.slice(0, 16)}`;
      if (!wavesByKey.has(key)) wavesByKey.set(key, { location: s.locationCode, at: s.statusAt, shipments: [] });
      wavesByKey.get(key).shipments.push(s);
    }
    const list = [...wavesByKey.values()].sort((a, b) => b.at.localeCompare(a.at)).slice(0, 20);
    replace(
      waves,
      list.length
        ? list.map((w) =>
            h(
              "li",
              {},
              h("time", {}, time(w.at)),
              h("strong", {}, w.location),
              ` ${w.shipments.length} shipment(s): `,
              w.shipments.slice(0, 10).map((s) => (s.order ? orderLink(s.order.id, s.number) : h("span", {}, s.number))),
            ),
          )
        : [h("li", { class: "quiet" }, "No wave started today.")],
    );
  }
  readShipments();

  return () => {
    stops.forEach((stop) => stop());
    if (shipmentTimer !== null) clearTimeout(shipmentTimer);
    if (chart) chart.plot.destroy();
  };
}
