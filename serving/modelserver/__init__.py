"""The local TorchServe runtime: settings, a locked-down config.properties, start/stop/status and API keys.

    from serving.modelserver import ModelServerSettings, start, stop, status, read_keys

    settings = ModelServerSettings(ts_model_store=Path("model_store"))
    start(settings)                     # returns when every model has READY workers
    keys = read_keys(settings.ts_home)  # Authorization: Bearer <keys.inference> / <keys.management>
    stop(settings)                      # no JVM, no worker left
"""

from serving.modelserver.errors import InvalidSetup, ModelServerError
from serving.modelserver.java import find_java_home
from serving.modelserver.keys import TokenKeys, read_keys
from serving.modelserver.runner import start, status, stop
from serving.modelserver.settings import ModelServerSettings, get_settings

__all__ = ["InvalidSetup", "ModelServerError", "ModelServerSettings", "TokenKeys", "find_java_home", "get_settings",
           "read_keys", "start", "status", "stop"]
