"""The live operations page (/dashboard) and GraphiQL, served from this app with no CDN.

The page is a read-only client of the public GraphQL API (queries over HTTP, subscriptions over
graphql-transport-ws), so it needs no server code of its own: this module only serves files. Our
own sources live in `dashboard/src/`; the third-party browser libraries (graphql-ws, uPlot, GraphiQL,
React) come from npm at install time (`make install` runs `npm ci` in `dashboard/`, pinned by its
package-lock.json) and are served straight from `dashboard/node_modules`, read-only, under
`/vendor/<name>/`. Without them (no Node on the machine) the API still works and both pages say
what to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

DASHBOARD_PATH = "/dashboard"
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "dashboard"

# URL name -> the folder inside node_modules it serves. Only these folders are reachable.
VENDOR = {
    "graphql-ws": "graphql-ws/dist",
    "uplot": "uplot/dist",
    "react": "react/umd",
    "react-dom": "react-dom/umd",
    "graphiql": "graphiql",
    "graphiql-explorer": "@graphiql/plugin-explorer/dist",
}
# One file per package that must be there for the pages to work: the install check.
_REQUIRED = (
    "graphql-ws/dist/client.js",
    "uplot/dist/uPlot.esm.js",
    "react/umd/react.production.min.js",
    "react-dom/umd/react-dom.production.min.js",
    "graphiql/graphiql.min.js",
    "@graphiql/plugin-explorer/dist/index.umd.js",
)

# Everything from this origin; nothing inline but style attributes set by script; sockets to self.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# GraphiQL's editor and its UI libraries insert <style> elements at run time, hence 'unsafe-inline'
# for styles only; its fonts are data: URLs inside graphiql.min.css.
GRAPHIQL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

_NOT_INSTALLED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OMS — {what} not installed</title></head>
<body>
<h1>The {what} is not installed</h1>
<p>The API works (<code>POST /graphql</code>, subscriptions on <code>ws://…/graphql</code>), but this page's
browser libraries (graphql-ws, uPlot, GraphiQL, React) are missing from <code>dashboard/node_modules</code>.</p>
<p>Install <a href="https://nodejs.org/">Node.js</a> 18 or newer with npm, then run
<code>make install</code> (it runs <code>npm ci</code> in <code>dashboard/</code>) and reload.</p>
</body></html>
"""


class _Files(StaticFiles):
    """Static files whose folder may be missing (not installed yet): 404, not a 500."""

    async def check_config(self) -> None:
        if self.directory is not None and Path(self.directory).is_dir():
            await super().check_config()


@dataclass(frozen=True, slots=True)
class FrontEnd:
    """The dashboard folder: our sources and the installed libraries."""

    root: Path = DEFAULT_ROOT

    @property
    def sources(self) -> Path:
        return self.root / "src"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"

    def installed(self) -> bool:
        return all((self.node_modules / path).is_file() for path in _REQUIRED)

    def page(self, name: str, *, what: str, csp: str) -> Response:
        """`name` from dashboard/src, read per request (a few KiB) so an install after start-up shows."""
        if not self.installed():
            return HTMLResponse(_NOT_INSTALLED.format(what=what), status_code=503, headers={"content-security-policy": csp})
        html = (self.sources / name).read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"content-security-policy": csp, "cache-control": "no-cache"})

    def graphiql(self) -> Response:
        return self.page("graphiql.html", what="GraphiQL page", csp=GRAPHIQL_CSP)


def dashboard_routes(front_end: FrontEnd, *, redirect_root: bool) -> list[BaseRoute]:
    """/dashboard, its sources under /dashboard/app/, the libraries under /vendor/; `/` redirects
    to the dashboard when `redirect_root` (development)."""

    async def dashboard(request: Request) -> Response:
        return front_end.page("index.html", what="operations dashboard", csp=DASHBOARD_CSP)

    async def root(request: Request) -> Response:
        return RedirectResponse(DASHBOARD_PATH, status_code=307)

    routes: list[BaseRoute] = [
        Route(DASHBOARD_PATH, dashboard, methods=["GET"]),
        Mount(f"{DASHBOARD_PATH}/app", app=_Files(directory=front_end.sources, check_dir=False)),
        *(
            Mount(f"/vendor/{name}", app=_Files(directory=front_end.node_modules / folder, check_dir=False))
            for name, folder in VENDOR.items()
        ),
    ]
    if redirect_root:
        routes.append(Route("/", root, methods=["GET"]))
    return routes
