"""Fusion, gating and the format score, pinned by hand-computed values."""

from __future__ import annotations

import pytest

from learn2ask.errors import ConfigError
from learn2ask.models.policy import parse_policy_response
from learn2ask.rewards.fusion import FusionConfig, format_score, fuse, score_components

Q1 = "When did it start?"
Q2 = "When did it start? Is it sharp?"
Q3 = "When? Where? Why?"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Q1, 1.0),
        (Q2, 0.5),
        (Q3, 0.0),
        ("I see.", 0.0),
        ("", 0.0),
        ("<stop />", 1.0),
        ("<stop/>", 1.0),
        ("Thanks. <stop />", 0.0),
    ],
)
def test_format_score(reply, expected):
    assert format_score(parse_policy_response(reply)) == expected


@pytest.mark.parametrize(
    ("mode", "r_a", "r_s", "p", "expected"),
    [
        ("hierarchical", 1.0, 1.0, 1.0, 1 * (1 + 2 * 1) + 1),  # 4
        ("hierarchical", 0.5, 1.0, 0.5, 1 * (1 + 2 * 0.5) + 0.5),  # 2.5
        ("hierarchical", 0.0, 1.0, 1.0, 2.0),
        ("sum", 0.5, 1.0, 1.0, 2.5),
        ("ra_only", 0.5, 1.0, 1.0, 2 * 0.5 + 1),  # 2
        ("rs_only", 0.5, 1.0, 0.5, 3 * 1 + 0.5),  # 3.5
    ],
)
def test_fuse_modes(mode, r_a, r_s, p, expected):
    assert fuse(r_a, r_s, p, FusionConfig(mode=mode, beta=2.0)) == pytest.approx(expected)


def test_beta_is_configurable():
    assert fuse(0.5, 1.0, 1.0, FusionConfig(beta=4.0)) == pytest.approx(1 * (1 + 4 * 0.5) + 1)


def test_unknown_mode_rejected_with_did_you_mean():
    with pytest.raises(
        ConfigError, match="unknown fusion 'hierarchal' .did you mean 'hierarchical'"
    ):
        FusionConfig(mode="hierarchal")


def test_plugin_fusion_by_dotted_path():
    config = FusionConfig(mode="tests.rewards.test_fusion:product_fusion", beta=1.0)
    assert fuse(0.5, 1.0, 1.0, config) == pytest.approx(0.5)


def product_fusion(r_a: float, r_s: float, p: float, beta: float) -> float:
    """A user's fusion defined outside the package: R = R_a * R_s * P * beta."""
    return r_a * r_s * p * beta


def test_wrong_decision_gates_everything():
    asked_when_stop = score_components(parse_policy_response(Q1), "stop", 1.0, FusionConfig())
    assert (asked_when_stop.r_a, asked_when_stop.r_s, asked_when_stop.p) == (0.0, 0.0, 0.0)
    assert asked_when_stop.reward == 0.0
    stopped_when_continue = score_components(
        parse_policy_response("<stop />"), "continue", None, FusionConfig()
    )
    assert stopped_when_continue.reward == 0.0


def test_right_stop_gets_full_r_a_and_p_only_when_clean():
    clean = score_components(parse_policy_response("<stop />"), "stop", None, FusionConfig())
    assert (clean.r_a, clean.r_s, clean.p, clean.reward) == (1.0, 1.0, 1.0, 4.0)
    messy = score_components(parse_policy_response("Bye <stop />"), "stop", None, FusionConfig())
    assert (messy.r_a, messy.p, messy.reward) == (1.0, 0.0, 3.0)


def test_right_continue_uses_grade_and_format():
    result = score_components(parse_policy_response(Q2), "continue", 0.5, FusionConfig())
    assert (result.r_a, result.r_s, result.p) == (0.5, 1.0, 0.5)
    assert result.reward == pytest.approx(2.5)


def test_failed_grade_is_never_a_silent_zero():
    result = score_components(
        parse_policy_response(Q1),
        "continue",
        None,
        FusionConfig(),
        error="endpoint error: HTTP 500",
    )
    assert result.reward is None and result.r_a is None
    assert result.error == "endpoint error: HTTP 500"


def test_text_without_question_or_stop_makes_no_decision():
    rambling = score_components(
        parse_policy_response("do do do do"), "continue", None, FusionConfig()
    )
    assert (rambling.r_s, rambling.r_a, rambling.p, rambling.reward) == (0.0, 0.0, 0.0, 0.0)
