"""The bench's peers: other model servers serving the same exported TorchScript, each in its own venv.

`registry.PEERS` names them; each adapter module (`litserve`, `ray_serve`, `bentoml`, `kserve`, `mlserver`,
`torchserve`) says what to install, how to start it in its plain and its batching mode, and what request it
takes. `apps/` holds the servers themselves, as each peer's docs write one; they run in the peer's venv and
import nothing from the project but `apps/tensor_model.py`. Nothing here imports a peer's package.
"""
