"""Typed training configuration, loaded from YAML (unknown keys are an error, never ignored)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learn2ask.errors import ConfigError
from learn2ask.models.policy import PolicyPromptConfig

METHODS: tuple[str, ...] = ("sft", "dpo", "grpo")


@dataclass
class LoraSettings:
    """LoRA adapters (peft). ``enabled: false`` trains all weights.

    ``layers`` limits adapters to the top N transformer layers: backward then stops there, which
    roughly halves the step time of a small model on CPU.
    """

    enabled: bool = True
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    layers: int | None = None
    merge: bool = True


@dataclass
class PromptSettings:
    """How decision points are shown to the policy (saved beside the trained model)."""

    expert: str = "doctor"
    user: str = "patient"
    max_context_chars: int | None = 600

    def to_policy_config(self) -> PolicyPromptConfig:
        """The :class:`PolicyPromptConfig` these settings describe."""
        return PolicyPromptConfig(
            expert=self.expert, user=self.user, max_context_chars=self.max_context_chars
        )


@dataclass
class GRPOSettings:
    """GRPO-specific settings: group size, sampling, KL, reward."""

    num_generations: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    kl_beta: float = 0.0
    fusion: str = "hierarchical"
    fusion_beta: float = 2.0
    grader: str = "embedding"
    grader_file: str | None = None
    grader_base_url: str | None = None
    grader_model: str | None = None
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_server_base_url: str | None = None


@dataclass
class DPOSettings:
    """DPO-specific settings: the preference strength and how rejected replies are sampled."""

    beta: float = 0.1
    rejected_candidates: int = 2
    rejected_temperature: float = 1.0


@dataclass
class TrainConfig:
    """One training run. ``init_from`` starts from an earlier run's model (e.g. GRPO after SFT)."""

    method: str = "sft"
    model: str = "smollm2-135m-instruct"
    init_from: str | None = None
    train_file: str = "data/train.jsonl"
    output_dir: str = "runs/train"
    seed: int = 0
    max_samples: int | None = None
    stop_fraction: float | None = 0.5
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 8
    gradient_accumulation: int = 1
    max_length: int = 512
    max_completion_length: int = 32
    gradient_checkpointing: bool = False
    warmup_steps: int = 0
    save_steps: int = 10
    save_total_limit: int = 2
    logging_steps: int = 1
    report_to: list[str] = field(default_factory=list)
    torch_threads: int | None = None
    lora: LoraSettings = field(default_factory=LoraSettings)
    prompt: PromptSettings = field(default_factory=PromptSettings)
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    dpo: DPOSettings = field(default_factory=DPOSettings)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for summaries and YAML)."""
        return dataclasses.asdict(self)


_SECTIONS = {
    "lora": LoraSettings,
    "prompt": PromptSettings,
    "grpo": GRPOSettings,
    "dpo": DPOSettings,
}


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Build a :class:`TrainConfig`, naming any unknown or malformed key."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key '{key}'")
        if key in _SECTIONS:
            kwargs[key] = _section(_SECTIONS[key], value, f"{source}: {key}")
        else:
            kwargs[key] = value
    config = TrainConfig(**kwargs)
    if config.stop_fraction is not None and not 0.0 < config.stop_fraction < 1.0:
        raise ConfigError(f"{source}: stop_fraction must be in (0, 1) or null")
    if config.method not in METHODS:
        raise ConfigError(f"{source}: method must be one of {METHODS}, got '{config.method}'")
    return config


def _section(cls: type, value: Any, where: str) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in value:
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{key}'")
    return cls(**value)


def load_train_config(path: str | Path | None, **overrides: Any) -> TrainConfig:
    """Read a YAML config (or start from defaults) and apply non-None overrides."""
    import yaml

    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        data = loaded or {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(data, str(path or "<defaults>"))
