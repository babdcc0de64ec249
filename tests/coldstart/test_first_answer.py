"""A fresh process's first answers build only what they use (bench/README.md, cold start)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from devtools.azurite import Azurite
from shared.runtime import Runtime
from tests.support import body_json, call, fresh_python, request

ROOT = Path(__file__).resolve().parents[2]


async def test_health_builds_no_kaizala_client(runtime: Runtime) -> None:
    # /api/health reads the token state from its lease row: building the Kaizala HTTP client
    # (httpcore, a CA bundle) for it would be paid by every new instance's first answer.
    resp = await call("health", request("GET", "/api/health"))
    assert resp.status_code == 200
    assert body_json(resp)["status"] in ("ok", "warn")
    details = await call("manage_health", request("GET", "/api/manage/health"))
    assert body_json(details)["checks"]["storage"] == {"status": "ok"}
    assert "tokens" in runtime.__dict__
    assert "kaizala_http" not in runtime.__dict__
    assert "kaizala_auth" not in runtime.__dict__


def test_a_fresh_health_answer_imports_no_aiohttp_and_builds_no_model(azurite: Azurite) -> None:
    # The whole cold path in a new interpreter, as the worker runs it: import function_app,
    # index it, answer GET /api/health against Azurite. aiohttp (azure-core's default async
    # transport) must not be imported by it (the Tables client uses the httpx transport), and
    # none of the bridge's pydantic models is built for it (defer_build on each of them).
    script = """
import asyncio, json, sys
import function_app
import azure.functions as func
from shared.runtime import get_runtime
functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
req = func.HttpRequest(method="GET", url="http://127.0.0.1/api/health", headers={},
                       params={}, route_params={}, body=b"")
async def main():
    response = await functions["health"].get_user_function()(req)
    await get_runtime().aclose()
    return response.status_code
status = asyncio.run(main())
from pydantic import BaseModel
def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)
built = sorted({f"{m.__module__}.{m.__qualname__}" for m in models(BaseModel)
                if m.__module__.startswith(("shared.", "functions.")) and m.__pydantic_complete__})
print(json.dumps({"status": status, "built": built,
                  "aiohttp": sorted(m for m in sys.modules if m.split(".")[0] == "aiohttp")}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAIZALA_", "DATAVERSE_"))}
    env.update({"AzureWebJobsStorage": azurite.connection_string, "PYTHONPATH": str(ROOT)})
    done = fresh_python(script, env)
    assert json.loads(done) == {
        "status": 200,
        "built": [],
        "aiohttp": [],
    }


def test_importing_the_app_leaves_the_gc_enabled() -> None:
    # function_app pauses the cyclic GC while its modules load; the worker must get it back.
    script = "import gc, function_app; print(gc.isenabled())"
    done = fresh_python(script)
    assert done == "True"
