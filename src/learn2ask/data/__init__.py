"""Dialogue logs -> typed dialogues -> hindsight samples."""

from learn2ask.data.types import Decision, Dialogue, InfoItem, Role, Sample, Turn

__all__ = ["Decision", "Dialogue", "InfoItem", "Role", "Sample", "Turn"]
