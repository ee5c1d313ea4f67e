"""Start, stop and inspect the local TorchServe: `start(settings)`, `stop(settings)`, `status(settings)`.

`start` returns only once every model in the store has its minimum of READY workers, and otherwise leaves
nothing running. `stop` leaves no JVM and no worker behind, and is safe to call when nothing runs.
"""

from __future__ import annotations

import time
from typing import Any

from serving.modelserver import launch, processes
from serving.modelserver.errors import InvalidSetup, ModelServerError
from serving.modelserver.java import find_java_home
from serving.modelserver.keys import server_keys
from serving.modelserver.logs import log_tails
from serving.modelserver.paths import MAX_SOCKET_PATH, ServerPaths
from serving.modelserver.probes import ModelState, model_states, ping
from serving.modelserver.settings import ModelServerSettings

STOP_GRACE_S = 30.0  # TorchServe stops its workers and itself in a few seconds; then SIGKILL
_POLL_S = 0.5


def expected_models(settings: ModelServerSettings) -> int:
    """How many models TorchServe should register: one per archive in the store, or per `ts_models` entry."""
    store = settings.ts_model_store.expanduser().resolve()
    if not store.is_dir():
        raise InvalidSetup(f"model store {store} is not a directory (set TS_MODEL_STORE or --model-store)")
    archives = sorted(store.glob("*.mar"))
    if not archives:
        raise InvalidSetup(f"model store {store} holds no .mar archive")
    if settings.ts_models.lower() == "all":
        return len(archives)
    return len([entry for entry in settings.ts_models.split(",") if entry.strip()])


def start(settings: ModelServerSettings) -> None:
    """Start TorchServe and wait until it serves every model; ModelServerError (stopped again) otherwise."""
    paths = ServerPaths.of(settings)
    expected = expected_models(settings)
    if (running := processes.server_process(paths)) is not None:
        raise InvalidSetup(f"TorchServe is already running from {paths.home} (pid {running.pid}); stop it first")
    if not paths.socket_path_fits():
        raise InvalidSetup(f"ts_home {paths.home} is too long: worker socket paths must fit in {MAX_SOCKET_PATH} "
                           "bytes")
    launch.check_ports_free(settings)
    java_home = find_java_home()
    _stop(paths)  # workers orphaned by an earlier crash of this home's server
    launch.prepare_home(settings, paths)
    try:
        launch.launch(settings, paths, java_home)
        _wait_until_ready(settings, paths, expected)
    except BaseException:  # a timeout, a failed launch or Ctrl-C: never leave a half-started server
        _stop(paths)
        raise


def _probe(settings: ModelServerSettings, paths: ServerPaths) -> list[ModelState] | None:
    """The models' states once TorchServe answers `/ping` with Healthy; None before that."""
    try:
        keys = server_keys(settings)
    except ModelServerError:
        return None  # not written yet, or read while TorchServe was still writing it
    if ping(settings, keys) != "Healthy":
        return None
    return model_states(settings, keys)


def _wait_until_ready(settings: ModelServerSettings, paths: ServerPaths, expected: int) -> None:
    deadline = time.monotonic() + settings.ts_startup_timeout_s
    states: list[ModelState] | None = None
    while time.monotonic() < deadline:
        if processes.server_process(paths) is None:
            raise ModelServerError(f"TorchServe exited during startup.\n{log_tails(paths)}")
        if (probed := _probe(settings, paths)) is not None:
            states = probed
        if states is not None and len(states) >= expected and all(s.ready for s in states):
            return
        time.sleep(_POLL_S)
    if states is None:
        waiting = "the inference API never answered /ping with Healthy"
    else:
        waiting = "not ready: " + ("; ".join(s.describe() for s in states if not s.ready) or "no model registered")
    raise ModelServerError(f"TorchServe did not serve all {expected} model(s) within {settings.ts_startup_timeout_s:g} "
                           f"s; {waiting}.\n{log_tails(paths)}")


def stop(settings: ModelServerSettings) -> None:
    """Stop the TorchServe of `settings.ts_home` and every worker it started; nothing running is fine."""
    _stop(ServerPaths.of(settings))


def _stop(paths: ServerPaths) -> None:
    server = processes.server_process(paths)
    doomed = processes.process_tree(server) if server is not None else []
    if server is not None:
        if paths.launcher_pid_file.is_file():
            launch.run_launcher(paths, launch.environment(paths), "--stop")
        else:
            server.terminate()
    # Workers restarted after the snapshot, or orphaned by an earlier crash, are found by their socket path.
    doomed += [p for p in processes.stray_workers(paths) if p not in doomed]
    survivors = processes.wait_gone(doomed, STOP_GRACE_S)
    if survivors and (stuck := processes.kill_all(survivors)):
        raise ModelServerError(f"processes {[p.pid for p in stuck]} of TorchServe survived SIGKILL")
    for leftover in (paths.pid_file, paths.launcher_pid_file, paths.key_file):
        leftover.unlink(missing_ok=True)


def status(settings: ModelServerSettings) -> dict[str, Any]:
    """Whether the server of `settings.ts_home` runs, its pid, URLs, `/ping` and each model's worker states."""
    paths = ServerPaths.of(settings)
    server = processes.server_process(paths)
    report: dict[str, Any] = {
        "running": server is not None, "pid": server.pid if server is not None else None, "home": str(paths.home),
        "inference_url": settings.inference_url, "management_url": settings.management_url,
        "metrics_url": settings.metrics_url, "ping": None, "models": {},
    }
    if server is not None and (paths.key_file.is_file() or not settings.ts_token_auth):
        keys = server_keys(settings)
        report["ping"] = ping(settings, keys)
        report["models"] = {s.name: {"min_workers": s.min_workers, "workers": list(s.worker_states), "ready": s.ready}
                            for s in model_states(settings, keys) or []}
    return report
