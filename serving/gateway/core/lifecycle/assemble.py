"""The lifecycle's parts, built from the gateway's settings for one app: the control side, the outage gate
(probing each version's readiness), the shadow mirror, the metrics by version and the policy file's watcher."""

import logging

from serving.gateway.core.catalog import Catalog
from serving.gateway.core.errors import GatewayError
from serving.gateway.core.lifecycle.control import Lifecycle
from serving.gateway.core.lifecycle.metrics import VersionMetrics
from serving.gateway.core.lifecycle.outage import OutageGate
from serving.gateway.core.lifecycle.policy_file import PolicyWatcher
from serving.gateway.core.lifecycle.runtime import LifecycleRuntime
from serving.gateway.core.lifecycle.shadow import ShadowMirror
from serving.gateway.core.upstream import TorchServeClient
from serving.gateway.settings import GatewaySettings

log = logging.getLogger("serving.gateway.core.lifecycle")


def lifecycle_runtime(settings: GatewaySettings, catalog: Catalog, upstream: TorchServeClient,
                      by_version: VersionMetrics) -> LifecycleRuntime:
    """Everything the request path and the admin API share; a policy file that is invalid at start-up is
    refused like one at run time (logged, counted), and the gateway starts with every model's newest version."""
    control = Lifecycle(catalog, settings.gateway_model_store, upstream.manage,
                        drain_timeout_s=settings.gateway_drain_timeout_s)
    gate = OutageGate(upstream.ready, settings.gateway_outage_budget_s, settings.gateway_outage_max_held,
                      on_change=by_version.outage_changed)
    mirror = ShadowMirror(by_version.shadow_verdict, settings.gateway_shadow_max_in_flight)
    watcher = None
    if settings.gateway_policy_file is not None:
        watcher = PolicyWatcher(settings.gateway_policy_file, catalog.known,
                                on_refused=lambda message: by_version.policy_refused.inc())
        watcher.on_applied = control.apply_policy
        try:
            watcher.check()
        except GatewayError as error:  # a default the catalog refuses: the same as an invalid file
            log.error("traffic policy refused: %s", error.message)
    return LifecycleRuntime(control, gate, mirror, by_version, watcher, upstream.own_servers())
