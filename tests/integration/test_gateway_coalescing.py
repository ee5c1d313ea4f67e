"""Coalescing through the real gateway and TorchServe: concurrent requests share TorchServe calls, and each
still gets the answer (or the error) it would get alone."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.error_bodies import error_of
from training.data import tabular


def test_concurrent_requests_are_coalesced_and_each_gets_its_own_answer(api: httpx.Client, client: httpx.Client,
                                                                        gateway: str) -> None:
    rows = tabular.load("wine").x_test[:24].tolist()
    bodies: list[dict[str, object]] = [{"features": row} for row in rows] + [{"features": [1.0, 2.0]}] * 8

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gateway, headers=dict(api.headers), timeout=60) as http:
            return await asyncio.gather(*(http.post("/v1/models/mlp_classifier/predict", json=b) for b in bodies))

    def batched() -> float:
        text = api.get("/metrics").text
        lines = [line for line in text.splitlines() if line.startswith("gateway_batch_requests_")
                 and 'model="mlp_classifier"' in line]
        total = sum(float(x.split()[-1]) for x in lines if x.startswith("gateway_batch_requests_count"))
        alone = sum(float(x.split()[-1]) for x in lines if 'le="1.0"' in x)
        return total - alone  # calls that carried more than one request (0 before the model's first call)

    before = batched()
    answers = asyncio.run(burst())
    for body, answer in zip(bodies, answers, strict=True):
        direct = client.post("/predictions/mlp_classifier", json=body)
        assert answer.status_code == direct.status_code
        if answer.status_code == 200:  # batches of other sizes move the last float bits, nothing more
            assert answer.json()["label"] == direct.json()["label"]
            assert answer.json()["probabilities"] == pytest.approx(direct.json()["probabilities"], abs=1e-6)
        else:  # the handler's message, in the gateway's error body (which adds the request id)
            assert error_of(answer) == (direct.status_code, direct.json()["error"])
    assert [a.status_code for a in answers].count(400) == 8
    assert batched() > before  # some calls to TorchServe carried several requests
