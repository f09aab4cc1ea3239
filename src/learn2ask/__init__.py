"""learn2ask: train proactive LLM agents that know what to ask next and when to stop.

Pipeline stages, one module each: ``data`` (logs -> dialogues -> samples), ``targets``
(hindsight I*/s*), ``models`` (policy model, generation, OpenAI-compatible client/server),
``rewards`` (graders and fusion), ``training`` (SFT / DPO / GRPO recipes), ``evaluation``
(metrics, replay, reports), ``calibration`` and ``serving``.
"""

__version__ = "0.1.0"
