"""The admin API, `/admin/v1`: mounted only when admin keys are configured, guarded by them alone (an API key
for predictions is not an admin key), and the gateway's own: TorchServe's management port stays private.

    GET    /admin/v1/models                                    versions, defaults, policies, in-flight counts
    POST   /admin/v1/models                 {"archive", "workers"}   register an archive of the model store
    PUT    /admin/v1/models/{name}/versions/{version}/workers  {"workers"}
    DELETE /admin/v1/models/{name}/versions/{version}          drain, then unregister
    PUT    /admin/v1/models/{name}/policy   {"default", "canary"?, "shadow"?}
    POST   /admin/v1/models/{name}/promote  the canary becomes the default
    POST   /admin/v1/models/{name}/rollback the canary and shadow are dropped
"""

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.gateway.core.admission import ApiKeys
from serving.gateway.core.errors import InvalidInput, Unauthorized
from serving.gateway.core.lifecycle.control import Lifecycle

MAX_WORKERS = 64


class Registration(BaseModel):
    """An archive of the model store, by file name, and its initial workers."""

    model_config = ConfigDict(extra="forbid")
    archive: str = Field(max_length=200)
    workers: int = Field(default=1, ge=1, le=MAX_WORKERS)


class Workers(BaseModel):
    """A version's worker count."""

    model_config = ConfigDict(extra="forbid")
    workers: int = Field(ge=1, le=MAX_WORKERS)


async def admin_actor(request: Request) -> str:
    """The admin key's fingerprint (who made the change, for the audit line), or 401."""
    keys: ApiKeys = request.app.state.admin_keys
    header = request.headers.get("authorization")
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing admin key: send 'Authorization: Bearer <admin key>'")
    try:
        keys.check(header)
    except Unauthorized:
        raise Unauthorized("invalid admin key") from None
    return "key:" + hashlib.sha256(token.strip().encode()).hexdigest()[:12]


async def lifecycle(request: Request) -> Lifecycle:
    """The running gateway's lifecycle."""
    control: Lifecycle = request.app.state.lifecycle
    return control


Actor = Annotated[str, Depends(admin_actor)]
Control = Annotated[Lifecycle, Depends(lifecycle)]


def router() -> APIRouter:
    """The admin routes (left out of the public OpenAPI document)."""
    api = APIRouter(prefix="/admin/v1", tags=["admin"], include_in_schema=False)

    @api.get("/models")
    async def list_models(_: Actor, control: Control) -> dict[str, Any]:
        return control.describe()

    @api.post("/models", status_code=201)
    async def register(body: Registration, actor: Actor, control: Control) -> dict[str, Any]:
        entry = await control.register(actor, body.archive, body.workers)
        return {"name": entry.name, "version": entry.version, "workers": body.workers}

    @api.put("/models/{name}/versions/{version}/workers")
    async def set_workers(name: str, version: str, body: Workers, actor: Actor, control: Control) -> dict[str, Any]:
        await control.set_workers(actor, name, version, body.workers)
        return {"name": name, "version": version, "workers": body.workers}

    @api.delete("/models/{name}/versions/{version}")
    async def unregister(name: str, version: str, actor: Actor, control: Control) -> dict[str, Any]:
        await control.unregister(actor, name, version)
        return {"name": name, "version": version, "unregistered": True}

    @api.put("/models/{name}/policy")
    async def set_policy(name: str, request: Request, actor: Actor, control: Control) -> dict[str, Any]:
        spec = await _json(request)
        control.set_policy(actor, name, spec)
        return {"name": name, "policy": control.describe_policy(name)}

    @api.post("/models/{name}/promote")
    async def promote(name: str, actor: Actor, control: Control) -> dict[str, Any]:
        control.promote(actor, name)
        return {"name": name, "policy": control.describe_policy(name)}

    @api.post("/models/{name}/rollback")
    async def rollback(name: str, actor: Actor, control: Control) -> dict[str, Any]:
        control.rollback(actor, name)
        return {"name": name, "policy": control.describe_policy(name)}

    return api


async def _json(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise InvalidInput("the policy must be a JSON object") from None
