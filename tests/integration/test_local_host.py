"""`python -m devtools.host` serving the product app, as `make run` starts it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devtools.azurite import Azurite
from devtools.serving import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_host_serves_product_app_and_invokes_a_timer(azurite: Azurite, tmp_path: Path) -> None:
    port = free_port()
    settings = tmp_path / "local.settings.json"
    settings.write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {
                    "AzureWebJobsStorage": azurite.connection_string,
                    "TABLE_NAME_PREFIX": "hostcli",
                    "LOCAL_SECRETS_PATH": str(tmp_path / "secrets.json"),
                    "KAIZALA_RENEW_SCHEDULE": "0 0 0 1 1 *",
                },
            }
        )
    )
    log = tmp_path / "host.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "devtools.host",
                "--port",
                str(port),
                "--settings",
                str(settings),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(f"{base}/api/health", timeout=5)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
            assert health.status_code == 200
            # the anonymous answer is the status alone; the checks are behind the admin route
            assert list(health.json()) == ["status"]
            detail = httpx.get(f"{base}/api/manage/health", timeout=5).json()
            assert detail["checks"]["storage"]["status"] == "ok"
            assert httpx.put(f"{base}/api/health").status_code == 405
            assert httpx.get(f"{base}/api/nope").status_code == 404
            invoked = httpx.post(
                f"{base}/admin/functions/renew_kaizala_token", json={"input": ""}, timeout=5
            )
            assert invoked.status_code == 202
            deadline = time.monotonic() + 10
            while "function=renew_kaizala_token trigger=admin" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
    text = log.read_text()
    assert text.count("function=renew_kaizala_token") == 1
    assert "AccountKey" not in text
