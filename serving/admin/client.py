"""A small client for the gateway's admin API: one method per action, the API's `{"error"}` as AdminError."""

from typing import Any

import httpx


class AdminError(Exception):
    """The admin API refused the action (`status` < 500: bad input) or could not carry it out."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminClient:
    """Calls /admin/v1 on a gateway with an admin key."""

    def __init__(self, http: httpx.Client, key: str) -> None:
        self._http = http
        self._auth = {"Authorization": f"Bearer {key}"}

    def models(self) -> dict[str, Any]:
        """Every model's versions, default and policy."""
        return self._call("GET", "/admin/v1/models")

    def register(self, archive: str, workers: int) -> dict[str, Any]:
        """Register an archive of the model store by file name."""
        return self._call("POST", "/admin/v1/models", {"archive": archive, "workers": workers})

    def set_workers(self, model: str, version: str, workers: int) -> dict[str, Any]:
        """Scale one version."""
        return self._call("PUT", f"/admin/v1/models/{model}/versions/{version}/workers", {"workers": workers})

    def unregister(self, model: str, version: str) -> dict[str, Any]:
        """Drain and unregister one version."""
        return self._call("DELETE", f"/admin/v1/models/{model}/versions/{version}")

    def set_policy(self, model: str, policy: dict[str, Any]) -> dict[str, Any]:
        """Replace one model's traffic policy."""
        return self._call("PUT", f"/admin/v1/models/{model}/policy", policy)

    def promote(self, model: str) -> dict[str, Any]:
        """Make the canary the default."""
        return self._call("POST", f"/admin/v1/models/{model}/promote")

    def rollback(self, model: str) -> dict[str, Any]:
        """Drop the canary and the shadow."""
        return self._call("POST", f"/admin/v1/models/{model}/rollback")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            answer = self._http.request(method, path, json=body, headers=self._auth)
        except httpx.HTTPError as error:
            raise AdminError(503, f"cannot reach the gateway: {error}") from None
        try:
            data = answer.json()
        except ValueError:
            data = {"error": answer.text[:200] or f"status {answer.status_code}"}
        if answer.status_code >= 300:
            raise AdminError(answer.status_code, str(data.get("error", data)) if isinstance(data, dict) else str(data))
        result: dict[str, Any] = data
        return result
