// Renders batched to one per animation frame: at 200 events/s the page redraws ~60 times a second,
// not 200, and every list is bounded so memory stays flat however long the page stays open.

const dirty = new Set();
let scheduled = false;
let oldestPending = null;

// Figures the browser tests and bench/dashboard_page.py read: events in, frames drawn, lag.
export const stats = { events: 0, frames: 0, lastLagMs: 0, maxLagMs: 0 };
window.__omsStats = stats;

/** Count one event received (for the figures above). */
export function received() {
  stats.events += 1;
  if (oldestPending === null) oldestPending = performance.now();
}

/** Redraw `draw` on the next frame (once, however often it is asked). */
export function invalidate(draw) {
  if (oldestPending === null) oldestPending = performance.now();
  dirty.add(draw);
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(flush);
  }
}

function flush() {
  scheduled = false;
  const draws = [...dirty];
  dirty.clear();
  for (const draw of draws) {
    try {
      draw();
    } catch (error) {
      console.error(error);
    }
  }
  stats.frames += 1;
  if (oldestPending !== null) {
    stats.lastLagMs = performance.now() - oldestPending;
    stats.maxLagMs = Math.max(stats.maxLagMs, stats.lastLagMs);
    oldestPending = null;
  }
}

/** Newest first, at most `limit` items, at most one per key. */
export class Recent {
  constructor(limit, keyOf) {
    this.limit = limit;
    this.keyOf = keyOf;
    this.items = [];
    this.keys = new Set();
  }

  add(item) {
    const key = this.keyOf(item);
    if (this.keys.has(key)) return false;
    this.items.unshift(item);
    this.keys.add(key);
    while (this.items.length > this.limit) this.keys.delete(this.keyOf(this.items.pop()));
    return true;
  }

  clear() {
    this.items = [];
    this.keys.clear();
  }
}

/** A DOM element: `h("a", {href: "#"}, "text", child, ...)`. Text is never parsed as HTML. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Show `recent`'s items in `list`, newest first, touching only what changed: rows of new items
 * are prepended, rows of items that fell off are removed, the rest stay (no per-frame rebuild).
 * `empty` is shown while there is nothing. */
export function syncList(list, recent, row, empty) {
  const rendered = list.__rows || (list.__rows = new Map());
  const wanted = new Set(recent.items.map(recent.keyOf));
  for (const [key, node] of rendered) {
    if (!wanted.has(key)) {
      node.remove();
      rendered.delete(key);
    }
  }
  const fresh = [];
  for (const item of recent.items) {
    const key = recent.keyOf(item);
    if (rendered.has(key)) break;
    const node = row(item);
    rendered.set(key, node);
    fresh.push(node);
  }
  if (rendered.size === 0) {
    list.replaceChildren(h("li", { class: "quiet" }, empty));
    return;
  }
  if (list.firstElementChild && list.firstElementChild.classList.contains("quiet")) list.firstElementChild.remove();
  list.prepend(...fresh);
}

export function replace(element, ...children) {
  element.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export function time(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function orderLink(orderId, label) {
  return h("a", { href: `#/orders/${encodeURIComponent(orderId)}`, class: "order-link" }, label || "order");
}
