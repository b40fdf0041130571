// The API as this page uses it: queries over HTTP, subscriptions over graphql-transport-ws with the
// reference `graphql-ws` client, and the API key kept in session storage (gone when the tab closes).
import { createClient } from "/vendor/graphql-ws/client.js";

const KEY = "oms.apiKey";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY) || "";
  },
  signIn(key) {
    sessionStorage.setItem(KEY, key.trim());
  },
  signOut() {
    sessionStorage.removeItem(KEY);
  },
};

function credentialHeaders() {
  return session.key ? { "x-api-key": session.key } : {};
}

/** `{data, errors}` of one query; a transport failure becomes an error like any other. */
export async function query(text, variables = {}) {
  try {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...credentialHeaders() },
      body: JSON.stringify({ query: text, variables }),
    });
    return await response.json();
  } catch (error) {
    return { data: null, errors: [{ message: String(error), extensions: { code: "NETWORK" } }] };
  }
}

export function codeOf(errors) {
  return (errors && errors[0] && errors[0].extensions && errors[0].extensions.code) || "ERROR";
}

export function isDenied(errors) {
  return ["FORBIDDEN", "UNAUTHENTICATED", "INVALID_CREDENTIAL", "CREDENTIAL_EXPIRED"].includes(codeOf(errors));
}

// Close codes after which retrying with the same key is pointless: the key was refused.
const REFUSED = new Set([4401, 4403]);

/** One WebSocket for every subscription on the page; `onState(state, detail)` reports
 * "connecting" | "live" | "reconnecting" | "refused". */
export function connect(onState) {
  const url = new URL("/graphql", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let attempts = 0;
  const client = createClient({
    url: url.href,
    lazy: false,
    connectionParams: () => (session.key ? { apiKey: session.key } : {}),
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event && REFUSED.has(event.code)),
    // Capped exponential back-off with jitter: a restarted server is not stampeded.
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(8000, 250 * 2 ** retries) + Math.random() * 250)),
    onNonLazyError: () => {},
  });
  client.on("connecting", () => onState(attempts++ ? "reconnecting" : "connecting"));
  client.on("connected", () => onState("live"));
  client.on("closed", (event) => {
    if (event && REFUSED.has(event.code)) onState("refused", event.reason);
    else onState("reconnecting");
  });
  return client;
}
