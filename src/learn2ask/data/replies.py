"""The expert's own next action as a policy reply, shared by data, targets, training and
evaluation: the stop tag, and :func:`reference_reply`."""

from __future__ import annotations

from learn2ask.data.types import Sample

STOP_TAG = "<stop />"


def reference_reply(sample: Sample, stop_tag: str = STOP_TAG) -> str:
    """What the expert's own next action means for the policy: the stop tag when s* = STOP,
    else the next question the expert really went on to ask (the first item of I*).

    Used as the SFT target and as the "expert" response set that ``grade`` can score.
    """
    if sample.decision == "stop" or not sample.items:
        return stop_tag
    first = sample.items[0]
    return first.question or first.text
