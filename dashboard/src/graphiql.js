// GraphiQL on this app's own copies of its libraries (no CDN). Queries and mutations go over HTTP,
// subscriptions over graphql-transport-ws with the reference graphql-ws client. The API key the
// dashboard signed in with (session storage) is sent by both.
import { createClient } from "/vendor/graphql-ws/client.js";

const EXAMPLE = `# OMS GraphiQL: Ctrl-Enter runs the operation. Subscriptions work too, e.g.
#   subscription { orderUpdated { cursor status orderId event { type at } } }
{
  orders(first: 5) { edges { node { externalId status channelCode } } }
}
`;
const key = sessionStorage.getItem("oms.apiKey") || "";
const url = new URL("/graphql", location.href);
const wsUrl = new URL(url);
wsUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
const parameters = new URLSearchParams(location.search);

const fetcher = GraphiQL.createFetcher({
  url: url.href,
  headers: key ? { "x-api-key": key } : {},
  wsClient: createClient({ url: wsUrl.href, connectionParams: key ? { apiKey: key } : {} }),
});

function App() {
  const [query, setQuery] = React.useState(parameters.get("q") || EXAMPLE);
  return React.createElement(GraphiQL, {
    fetcher,
    query,
    onEditQuery: (q) => {
      setQuery(q);
      const next = new URLSearchParams(location.search);
      next.set("q", q);
      history.replaceState(null, "", `?${next}`);
    },
    defaultEditorToolsVisibility: true,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    inputValueDeprecation: true,
  });
}

ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
