"""A local stand-in for the Azure Functions host (Core Tools cannot be installed here).

It serves the same `function_app.py`: HTTP functions on `/<routePrefix>/<route>` with Azure
route templates, timer functions on their NCRONTAB schedules, `POST /admin/functions/<name>`
to run a non-HTTP function now. Like Core Tools it does not check function keys;
`describe_functions` lists each endpoint's declared auth level so tests can pin them.

    python -m devtools.host [--port 7071] [--settings local.settings.json]
                            [--app function_app] [--host 127.0.0.1] [--list]
"""

from devtools.host.cli import load_app, main
from devtools.host.errors import HostError
from devtools.host.http_functions import to_starlette_response
from devtools.host.indexing import (
    IndexedApp,
    IndexedFunction,
    describe_functions,
    format_table,
    index_app,
    index_functions,
)
from devtools.host.runtime import FunctionHost, create_host_app
from devtools.host.settings import LocalSettings, load_local_settings, read_route_prefix

__all__ = [
    "FunctionHost",
    "HostError",
    "IndexedApp",
    "IndexedFunction",
    "LocalSettings",
    "create_host_app",
    "describe_functions",
    "format_table",
    "index_app",
    "index_functions",
    "load_app",
    "load_local_settings",
    "main",
    "read_route_prefix",
    "to_starlette_response",
]
