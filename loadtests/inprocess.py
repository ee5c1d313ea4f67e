"""A curriculum model's handler called in this process, as TorchServe's worker calls it but without any
network: the benchmark's ceiling, and the probabilities the TorchServe peer's answers are checked against."""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from ts.context import Context, RequestProcessor

from handlers import HANDLERS
from serving.archive import model_config
from serving.archive.builder import explanation_program, pick_runtime

JSON_HEADERS = {"content-type": "application/json"}


class InProcessModel:
    """One exported model behind its handler: `answer` takes request bodies and returns response bodies."""

    def __init__(self, model_dir: Path, batch_size: int = 1, runtime: str | None = None) -> None:
        signature = json.loads((model_dir / "signature.json").read_text(encoding="utf-8"))
        module, name = HANDLERS[signature["kind"]]
        runtime, entry = pick_runtime(signature, runtime)
        if runtime != signature.get("runtime", "torchscript"):
            model_dir = self._served_folder(model_dir, {**signature, "runtime": runtime}, entry["file"])
        manifest = {"model": {"serializedFile": entry["file"], "modelName": signature["name"]}}
        # The archive's own model-config.yaml settings (torch threads …), so every way of serving does the same work.
        explanation = signature["explanation"]["format"] if explanation_program(signature, runtime) else None
        config = yaml.safe_load(model_config.render(signature.get("serving", {}), "cpu", runtime, explanation))
        self.context = Context(signature["name"], str(model_dir), manifest, batch_size, None, "0.12.0",
                               model_yaml_config=config)
        self.handler: Any = getattr(importlib.import_module(f"handlers.{module}"), name)()
        self.handler.initialize(self.context)

    def _served_folder(self, model_dir: Path, signature: dict[str, Any], model_file: str) -> Path:
        """A folder as the archive unpacks: the artifact's files linked, signature.json naming the runtime."""
        self._folder = tempfile.TemporaryDirectory(prefix=f"inprocess-{signature['name']}-")
        served = Path(self._folder.name)
        for path in model_dir.iterdir():
            if path.name != "signature.json":
                (served / path.name).symlink_to(path.resolve())
        (served / "signature.json").write_text(json.dumps(signature), encoding="utf-8")
        return served

    def answer(self, bodies: list[Any], headers: dict[str, str] | None = None) -> list[bytes]:
        """Answer a batch of request bodies (bytes, or JSON already parsed) as one handler call; `headers` join
        the JSON content type (`{"explain": "True"}` asks for explanations, as TorchServe's API marks them)."""
        self.context.request_ids = {i: f"req-{i}" for i in range(len(bodies))}
        self.context.request_processor = [RequestProcessor({**JSON_HEADERS, **(headers or {})}) for _ in bodies]
        return list(self.handler.handle([{"body": body} for body in bodies], self.context))

    def status(self, index: int) -> int:
        """The HTTP status the handler set for request `index` of the last batch."""
        return int(self.context.get_response_status(index)[0])
