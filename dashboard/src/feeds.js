// Subscriptions that survive dropped connections without missing or repeating an event.
//
// graphql-ws re-sends a subscription's payload object on every reconnect, so moving
// `payload.variables.after` to the newest cursor received makes the server replay exactly what was
// missed while the socket was down. Items at or before that cursor (a replay racing a live event)
// are dropped, so nothing is shown twice.
import { codeOf } from "./api.js";
import { stats } from "./render.js";

// The last items delivered, as "field:cursor" (the browser tests check that none repeats).
const DELIVERED_KEPT = 1000;
stats.delivered = [];
stats.feeds = {};

export function newer(cursor, last) {
  if (last === null) return true;
  if (cursor.length !== last.length) return cursor.length > last.length; // decimal positions
  return cursor > last;
}

/** Follow `field` of a cursor-carrying subscription; `onItem(item)` for each new one,
 * `onDenied(errors)` when the caller may not see it, `onError(errors)` for anything else. */
export function follow(client, { query, variables = {}, field, onItem, onDenied, onError }) {
  const payload = { query, variables: { ...variables, after: variables.after ?? null } };
  let last = payload.variables.after;
  let dispose = () => {};
  let stopped = false;

  const start = () => {
    dispose = client.subscribe(payload, {
      next(result) {
        if (result.errors && result.errors.length) {
          handle(result.errors);
          return;
        }
        const item = result.data && result.data[field];
        if (!item) return;
        if (item.cursor != null) {
          if (!newer(item.cursor, last)) return;
          last = item.cursor;
          payload.variables.after = last;
          stats.delivered.push(`${field}:${last}`);
          if (stats.delivered.length > DELIVERED_KEPT) stats.delivered.splice(0, stats.delivered.length - DELIVERED_KEPT);
        }
        stats.feeds[field] = (stats.feeds[field] || 0) + 1;
        onItem(item);
      },
      error(errors) {
        handle(Array.isArray(errors) ? errors : [{ message: String(errors) }]);
      },
      complete() {},
    });
  };

  const handle = (errors) => {
    const code = codeOf(errors);
    const extensions = (errors[0] && errors[0].extensions) || {};
    if (code === "SUBSCRIBER_TOO_SLOW" && extensions.resumeAfter) {
      // Fell behind: carry on from the last event the server knows we got.
      payload.variables.after = last = extensions.resumeAfter;
      restart();
    } else if (code === "CURSOR_EXPIRED") {
      payload.variables.after = last = null;
      restart();
    } else if (["FORBIDDEN", "UNAUTHENTICATED", "INVALID_CREDENTIAL", "CREDENTIAL_EXPIRED"].includes(code)) {
      onDenied && onDenied(errors);
    } else {
      onError && onError(errors);
    }
  };

  const restart = () => {
    dispose();
    if (!stopped) setTimeout(start, 0);
  };

  start();
  return () => {
    stopped = true;
    dispose();
  };
}
