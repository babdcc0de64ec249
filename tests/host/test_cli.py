"""`python -m devtools.host` as a real process, and the settings it loads first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devtools.host import HostError, load_local_settings, main
from devtools.serving import free_port
from tests.host.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
SECRET = "sample-secret-value-" + "7f3a9c"


def write_settings(path: Path, values: dict[str, object], **extra: object) -> Path:
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values, **extra}))
    return path


def host_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "devtools.host", "--app", "tests.host.sample_app", *args]


def child_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAMPLE_", "KAIZALA_"))}
    env.update(values)
    return env


def test_serves_with_settings_logs_invocations_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    settings = write_settings(
        tmp_path / "local.settings.json",
        {
            "SAMPLE_FROM_FILE": "from-the-file",
            "SAMPLE_OVERRIDDEN": "file-loses",
            "SAMPLE_SLOW_SCHEDULE": "0 0 0 1 1 *",
            "SAMPLE_TICK_SCHEDULE": "0 0 0 1 1 *",
            "SAMPLE_SECRET": SECRET,
        },
    )
    port = free_port()
    log_path = tmp_path / "host.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            host_command("--port", str(port), "--settings", str(settings)),
            cwd=REPO,
            env=child_env(SAMPLE_OVERRIDDEN="environment-wins"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, log_path.read_text()
            try:
                return httpx.get(f"{base}/admin/host/status", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=15, what="the host to listen")
        # host.json next to the app module sets the route prefix.
        response = httpx.get(f"{base}/sample-api/settings", timeout=5)
        assert response.json() == {
            "SAMPLE_FROM_FILE": "from-the-file",
            "SAMPLE_OVERRIDDEN": "environment-wins",
        }
        process.send_signal(signal.SIGTERM)
        # The timeout only keeps a hung host from hanging the test; how fast is not a claim.
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log_path.read_text()
    assert "function=settings trigger=http status=200 duration_ms=" in output
    assert "sample-api/hello/{name:alpha}" in output  # the start-up function list
    assert "Application shutdown complete" in output
    for value in ("from-the-file", "file-loses", SECRET):
        assert value not in output


def test_list_prints_the_function_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # In-process: main() leaves an already configured logging setup (pytest's) alone. An
    # explicit empty settings file keeps a developer's local.settings.json out of os.environ.
    settings = str(write_settings(tmp_path / "empty.json", {}))
    assert main(["--app", "tests.host.sample_app", "--settings", settings, "--list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["NAME", "TRIGGER", "AUTH", "METHODS", "ROUTE", "/", "SCHEDULE"]
    assert ["item_by_id", "http", "admin", "DELETE,GET", "sample-api/items/{id:guid}"] in rows
    assert ["tick_timer", "timer", "-", "-", "%SAMPLE_TICK_SCHEDULE%"] in rows
    assert len(rows) == 13


def test_bad_start_up_inputs_exit_2(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = str(tmp_path / "missing.json")
    assert main(["--app", "tests.host.sample_app", "--list", "--settings", missing]) == 2
    assert "missing.json does not exist" in caplog.text
    settings = ["--settings", str(write_settings(tmp_path / "empty.json", {})), "--list"]
    assert main(["--app", "tests.host.no_such_module", *settings]) == 2
    assert "cannot import 'tests.host.no_such_module'" in caplog.text
    assert main(["--app", "tests.host.sample_app:recorder", *settings]) == 2
    assert "is not an azure.functions.FunctionApp" in caplog.text


def test_real_environment_wins_and_missing_default_file_is_only_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_settings(
        tmp_path / "s.json", {"A": "from-file", "B": "from-file"}, Host={"LocalHttpPort": 7999}
    )
    env = {"B": "real"}
    loaded = load_local_settings(path, environ=env)
    assert env == {"A": "from-file", "B": "real"}
    assert loaded.applied == ("A",)
    assert loaded.overridden == ("B",)
    assert loaded.local_http_port == 7999

    missing = load_local_settings(tmp_path / "nope.json", environ=env)
    assert not missing.found
    assert "not found" in caplog.text
    with pytest.raises(HostError, match="does not exist"):
        load_local_settings(tmp_path / "nope.json", required=True, environ=env)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"Values": {"KEY": "hunter2-secret", }', "invalid JSON"),
        ('{"Values": {"KEY": 12345678}}', "Values.KEY must be a string"),
        ('{"IsEncrypted": true, "Values": {}}', "encrypted"),
        ('{"Values": ["hunter2-secret"]}', "'Values' must be an object"),
        ('{"Values": {}, "Host": {"LocalHttpPort": "port"}}', "LocalHttpPort"),
    ],
)
def test_bad_settings_files_fail_without_quoting_values(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(content)
    with pytest.raises(HostError, match=message) as caught:
        load_local_settings(path, environ={})
    assert "hunter2" not in str(caught.value)
    assert "12345678" not in str(caught.value)
