"""Balanced subsets of decision points: STOP share held within each data source."""

from collections import Counter

import pytest

from learn2ask.data.sampling import balanced_subset, source_of
from learn2ask.data.types import Sample


def points(source: str, stops: int, continues: int) -> list[Sample]:
    """``stops`` STOP and ``continues`` CONTINUE points of one source, one dialogue each."""
    return [
        Sample(
            id=f"{source}-{i}",
            dialogue_id=f"{source}-d{i}",
            index=1,
            context=[],
            future=[],
            info_set=[],
            decision="stop" if i < stops else "continue",
            meta={"format": source},
        )
        for i in range(stops + continues)
    ]


def shares(samples: list[Sample]) -> Counter:
    return Counter((source_of(s), s.decision) for s in samples)


def test_each_source_is_balanced_in_itself() -> None:
    mixed = points("aci", stops=300, continues=100) + points("mts", stops=50, continues=400)
    chosen = balanced_subset(mixed, 0.5, seed=1)
    assert shares(chosen) == {
        ("aci", "stop"): 100,
        ("aci", "continue"): 100,
        ("mts", "stop"): 50,
        ("mts", "continue"): 50,
    }


def test_pooled_balance_lets_one_source_supply_the_stops() -> None:
    mixed = points("aci", stops=300, continues=100) + points("mts", stops=50, continues=400)
    counts = shares(balanced_subset(mixed, 0.5, limit=400, seed=1, by_source=False))
    assert counts[("aci", "stop")] > 3 * counts[("mts", "stop")]
    assert counts[("mts", "continue")] > 3 * counts[("aci", "continue")]


def test_limit_scales_sources_in_proportion_and_is_seeded() -> None:
    mixed = points("aci", stops=300, continues=100) + points("mts", stops=50, continues=400)
    chosen = balanced_subset(mixed, 0.5, limit=150, seed=3)
    assert len(chosen) == 150
    assert shares(chosen)[("aci", "stop")] == 50 and shares(chosen)[("mts", "stop")] == 25
    assert [s.id for s in chosen] == [s.id for s in balanced_subset(mixed, 0.5, 150, seed=3)]
    assert [s.id for s in chosen] != [s.id for s in balanced_subset(mixed, 0.5, 150, seed=4)]


def test_a_smaller_draw_is_part_of_a_larger_one() -> None:
    """The demo's reference classifier (1,000 points) is fitted on points the training's stop
    head (4,000, same pool and seed) embeds too: one embedding each."""
    mixed = points("aci", stops=300, continues=100) + points("mts", stops=50, continues=400)
    small = {s.id for s in balanced_subset(mixed, 0.5, limit=100, seed=2)}
    assert small < {s.id for s in balanced_subset(mixed, 0.5, limit=300, seed=2)}


def test_stop_fraction_is_kept_and_bad_fractions_refused() -> None:
    chosen = balanced_subset(points("mts", stops=100, continues=400), 0.2, seed=0)
    assert shares(chosen) == {("mts", "stop"): 100, ("mts", "continue"): 400}
    with pytest.raises(ValueError, match="stop_fraction"):
        balanced_subset(points("mts", 1, 1), 1.0)
