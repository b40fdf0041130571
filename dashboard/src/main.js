// The page: sign-in, the connection badge and a hash router over the three views.
import { connect, session } from "./api.js";
import { orderDetail } from "./order.js";
import { overview } from "./overview.js";
import { h, replace } from "./render.js";
import { storeView } from "./store.js";

const state = document.getElementById("connection");
const main = document.getElementById("main");
const signIn = document.getElementById("sign-in");
const keyInput = document.getElementById("api-key");
const signedIn = document.getElementById("signed-in");

const LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", refused: "Key refused" };

function showState(name, detail) {
  state.dataset.state = name;
  state.textContent = LABELS[name] || name;
  state.title = detail || "";
  if (name === "refused") signIn.hidden = false;
}

let client = null;
let leave = () => {};

function route() {
  leave();
  const [, view, arg] = location.hash.split("/");
  const id = arg ? decodeURIComponent(arg) : "";
  if (view === "orders" && id) leave = orderDetail(client, main, id);
  else if (view === "stores") leave = storeView(client, main, id);
  else leave = overview(client, main);
}

function start() {
  leave();
  leave = () => {};
  if (client) client.dispose();
  replace(signedIn, session.key ? `signed in with key …${session.key.slice(-4)}` : "no key (development demo: anonymous admin)");
  client = connect(showState);
  // For the browser tests: drop the socket as a network failure would (graphql-ws retries).
  window.__omsDropConnection = () => client.terminate();
  route();
}

signIn.addEventListener("submit", (event) => {
  event.preventDefault();
  session.signIn(keyInput.value);
  keyInput.value = "";
  start();
});
document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  start();
});
window.addEventListener("hashchange", route);
start();
