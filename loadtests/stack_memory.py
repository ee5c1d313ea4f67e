"""The stack's memory per served model, as PSS (shared pages split among the processes that share them): the
gateway, TorchServe's JVM, and each TorchServe worker of the model (their process ids from the management API)."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from loadtests.stack import LocalStack
from serving.modelserver.paths import ServerPaths
from serving.modelserver.processes import server_process
from serving.modelserver.workers import worker_pids


@dataclass(frozen=True)
class StackMemory:
    """PSS in MiB: the gateway (with any children), the JVM, and each of the model's workers."""

    gateway_mib: float
    jvm_mib: float
    workers_mib: tuple[float, ...]
    processes: int  # the gateway's (with children), the JVM, the model's workers

    @property
    def total_mib(self) -> float:
        """Everything the stack holds for this one model."""
        return self.gateway_mib + self.jvm_mib + sum(self.workers_mib)


def pss_mib(process: psutil.Process, with_children: bool = False) -> float:
    """A process's PSS (and its descendants') in MiB."""
    members = [process, *process.children(recursive=True)] if with_children else [process]
    return sum(p.memory_full_info().pss for p in members) / 2**20


def measure(stack: LocalStack, model: str) -> StackMemory:
    """The stack's memory for `model`, now."""
    jvm = server_process(ServerPaths.of(stack.model_server))
    if jvm is None:
        raise RuntimeError("TorchServe's JVM is not running")
    gateway = psutil.Process(stack.gateway.pid)
    workers = worker_pids(stack.model_server, model)
    return StackMemory(pss_mib(gateway, with_children=True), pss_mib(jvm),
                       tuple(pss_mib(psutil.Process(pid)) for pid in workers),
                       2 + len(gateway.children(recursive=True)) + len(workers))
