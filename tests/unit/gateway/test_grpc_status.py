"""The gateway's domain errors as gRPC status codes: every class maps, subclasses as their parents, and the
headers that matter to a gRPC client travel as trailing metadata."""

from __future__ import annotations

import grpc
import pytest

from serving.gateway.core import errors
from serving.gateway.frontends.grpc_v2.status import STATUS_CODES, status_code, trailing_metadata

CODE = grpc.StatusCode


@pytest.mark.parametrize(("error", "code"), [
    (errors.InvalidInput("bad"), CODE.INVALID_ARGUMENT),
    (errors.InvalidInput("bad", 422), CODE.INVALID_ARGUMENT),
    (errors.UnsupportedMediaType("no"), CODE.INVALID_ARGUMENT),
    (errors.Unauthorized("who"), CODE.UNAUTHENTICATED),
    (errors.ModelNotFound("none"), CODE.NOT_FOUND),
    (errors.PayloadTooLarge("big"), CODE.RESOURCE_EXHAUSTED),
    (errors.Overloaded("busy"), CODE.RESOURCE_EXHAUSTED),
    (errors.ModelNotReady("later"), CODE.UNAVAILABLE),
    (errors.UpstreamUnavailable("down"), CODE.UNAVAILABLE),
    (errors.UpstreamError("broke"), CODE.UNAVAILABLE),
    (errors.BadModelAnswer("a list, not an object"), CODE.INTERNAL),  # the model broke its contract
    (errors.WorkerDied("Worker died."), CODE.UNAVAILABLE),
    (errors.UpstreamTimeout.of("m"), CODE.DEADLINE_EXCEEDED),
    (errors.GatewayError("ours"), CODE.INTERNAL),
], ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.name)
def test_each_error_has_its_code(error: errors.GatewayError, code: grpc.StatusCode) -> None:
    assert status_code(error) == code


def test_every_error_class_of_the_gateway_is_in_the_table_or_under_one_that_is() -> None:
    classes = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.GatewayError)]
    assert len(classes) == 13
    for cls in classes:
        assert any(parent in STATUS_CODES for parent in cls.__mro__), cls


def test_a_client_mistake_is_never_unknown_or_internal() -> None:
    client_faults = [errors.InvalidInput, errors.UnsupportedMediaType, errors.Unauthorized, errors.ModelNotFound,
                     errors.PayloadTooLarge, errors.Overloaded]
    assert all(STATUS_CODES[cls] not in (CODE.UNKNOWN, CODE.INTERNAL) for cls in client_faults)


def test_retry_after_travels_as_trailing_metadata_and_other_headers_do_not() -> None:
    assert trailing_metadata(errors.Overloaded("busy")) == (("retry-after", "1"),)
    assert trailing_metadata(errors.ModelNotReady("later")) == (("retry-after", "1"),)
    assert trailing_metadata(errors.Unauthorized("who")) == ()
