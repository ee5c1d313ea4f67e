"""The traffic policy: default routing, weights that hold statistically, stickiness by traffic key, shadow
sampling, and the refusals of an invalid policy."""

from __future__ import annotations

import random

import pytest

from serving.gateway.core.lifecycle.policy import ModelPolicy, PolicyError, Route, Split, TrafficPolicy, bucket, parse

KNOWN = {"mlp_classifier": {"1.0", "1.1", "2.0"}, "char_rnn": {"1.0"}}
N = 20_000
# The canary share over N requests is binomial: at 10 % its standard deviation is 0.21 points, so a bound of
# one point is 4.7 standard deviations (a chance of about 3 in a million for a correct split to miss it).
BOUND_POINTS = 1.0


def canary_policy(percent: float, shadow: Split | None = None) -> TrafficPolicy:
    return TrafficPolicy({"mlp_classifier": ModelPolicy("1.0", Split("1.1", percent), shadow)})


def test_a_model_without_a_policy_goes_to_its_fallback_version() -> None:
    route = TrafficPolicy().choose("char_rnn", "1.0", None, random.Random(0))
    assert route == Route("1.0", None)


def test_the_default_version_answers_when_there_is_no_split() -> None:
    policy = TrafficPolicy({"mlp_classifier": ModelPolicy("2.0")})
    rng = random.Random(1)
    assert {policy.choose("mlp_classifier", "1.0", None, rng) for _ in range(100)} == {Route("2.0")}


@pytest.mark.parametrize("percent", [10.0, 50.0, 0.5])
def test_canary_weights_hold_within_one_point_over_20000_requests(percent: float) -> None:
    rng = random.Random(7)
    policy = canary_policy(percent)
    canary = sum(policy.choose("mlp_classifier", "1.0", None, rng).version == "1.1" for _ in range(N))
    assert abs(100 * canary / N - percent) < BOUND_POINTS


def test_canary_weights_hold_over_20000_distinct_traffic_keys() -> None:
    policy = canary_policy(10.0)
    rng = random.Random(0)
    canary = sum(policy.choose("mlp_classifier", "1.0", f"user-{i}", rng).version == "1.1" for i in range(N))
    assert abs(100 * canary / N - 10.0) < BOUND_POINTS


def test_the_same_traffic_key_always_lands_on_the_same_version() -> None:
    policy = canary_policy(30.0)
    rng = random.Random(3)
    for i in range(200):
        versions = {policy.choose("mlp_classifier", "1.0", f"key-{i}", rng).version for _ in range(20)}
        assert len(versions) == 1, f"key-{i} saw {versions}"


def test_a_key_stays_on_the_canary_as_its_share_grows() -> None:
    # A bucket under the threshold at 10 % is under it at 50 %: raising a canary never moves users back.
    low, high = canary_policy(10.0), canary_policy(50.0)
    rng = random.Random(0)
    for i in range(2000):
        if low.choose("mlp_classifier", "1.0", f"k{i}", rng).version == "1.1":
            assert high.choose("mlp_classifier", "1.0", f"k{i}", rng).version == "1.1"


def test_bucket_is_stable_and_depends_on_the_model() -> None:
    assert bucket("mlp_classifier", "alice") == bucket("mlp_classifier", "alice")
    assert 0 <= bucket("mlp_classifier", "alice") < 10_000
    assert len({bucket(f"model{i}", "alice") for i in range(50)}) > 40


def test_shadow_is_sampled_at_its_share_and_never_mirrors_the_answering_version() -> None:
    policy = TrafficPolicy({"mlp_classifier": ModelPolicy("1.0", None, Split("1.1", 20.0))})
    rng = random.Random(11)
    routes = [policy.choose("mlp_classifier", "1.0", None, rng) for _ in range(N)]
    assert {r.version for r in routes} == {"1.0"}
    mirrored = sum(r.shadow == "1.1" for r in routes)
    assert abs(100 * mirrored / N - 20.0) < BOUND_POINTS
    both = canary_policy(100.0, Split("1.1", 100.0))
    assert both.choose("mlp_classifier", "1.0", None, rng) == Route("1.1", None)


def test_parse_reads_a_full_policy_and_round_trips() -> None:
    data = {"models": {"mlp_classifier": {"default": "1.0", "canary": {"version": "1.1", "percent": 10},
                                          "shadow": {"version": "2.0", "percent": 5}}}}
    policy = parse(data, KNOWN)
    assert policy.models["mlp_classifier"] == ModelPolicy("1.0", Split("1.1", 10.0), Split("2.0", 5.0))
    assert parse(policy.to_dict(), KNOWN) == policy


@pytest.mark.parametrize(("data", "message"), [
    ([], "a traffic policy is a mapping with one key, 'models'"),
    ({"models": {}, "extra": 1}, "a traffic policy is a mapping with one key, 'models'"),
    ({"models": []}, "'models' must map model names to policies"),
    ({"models": {"nope": {"default": "1.0"}}}, "model 'nope' is not served"),
    ({"models": {"char_rnn": "1.0"}}, "char_rnn: the policy must be a mapping"),
    ({"models": {"char_rnn": {"default": "1.0", "weights": 1}}}, "char_rnn: unknown field 'weights'"),
    ({"models": {"char_rnn": {}}}, "char_rnn: default must be a version string"),
    ({"models": {"char_rnn": {"default": "9.9"}}}, r"char_rnn: default version '9.9' is not served \(served: 1.0\)"),
    ({"models": {"mlp_classifier": {"default": "1.0", "canary": {"version": "1.1", "percent": 101}}}},
     "mlp_classifier: canary percent must be a number from 0 to 100, got 101"),
    ({"models": {"mlp_classifier": {"default": "1.0", "canary": {"version": "1.1", "percent": "10"}}}},
     "mlp_classifier: canary percent must be a number from 0 to 100, got '10'"),
    ({"models": {"mlp_classifier": {"default": "1.0", "canary": {"version": "1.1"}}}},
     "mlp_classifier: canary must be a mapping with exactly 'version' and 'percent'"),
    ({"models": {"mlp_classifier": {"default": "1.0", "shadow": {"version": "1.0", "percent": 5}}}},
     "mlp_classifier: the shadow version '1.0' is the default version"),
    ({"models": {"mlp_classifier": {"default": "1.0", "canary": {"version": "3.0", "percent": 5}}}},
     "mlp_classifier: canary version '3.0' is not served"),
])
def test_parse_refuses_an_invalid_policy_with_a_message_that_names_the_problem(data: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse(data, KNOWN)


def test_with_model_replaces_or_removes_one_models_policy() -> None:
    policy = canary_policy(10.0).with_model("char_rnn", ModelPolicy("1.0"))
    assert set(policy.models) == {"mlp_classifier", "char_rnn"}
    assert policy.with_model("mlp_classifier", None).models == {"char_rnn": ModelPolicy("1.0")}
    assert policy.default_of("mlp_classifier") == "1.0"
    assert policy.default_of("other") is None
