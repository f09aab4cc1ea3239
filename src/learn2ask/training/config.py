"""Typed, validated training configuration, loaded from YAML.

Every key is checked at load, before any model loads: unknown keys, wrong types, out-of-range
values and impossible combinations are all reported at once, one line each, with the key's
path (``lora.r: Input should be a valid integer``). YAML strings that are plain numbers
(``1e-3``, ``"8"``) are read as numbers. ``--set key.sub=value`` overrides any field.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from learn2ask.domain import (
    DEFAULT_DOMAIN,
    Domain,
    bundled_yaml,
    cached_domain,
    read_yaml_mapping,
)
from learn2ask.errors import ConfigError, Learn2AskError
from learn2ask.models.policy import PolicyPromptConfig
from learn2ask.plugins import FUSIONS, GRADERS
from learn2ask.plugins import METHODS as METHOD_REGISTRY
from learn2ask.rewards.scorer import GraderConfig

# The built-in recipes (CLIs list these; a plug-in recipe is named by its dotted path).
METHODS: tuple[str, ...] = METHOD_REGISTRY.names()
# Where the shipped recipes' YAML lives (``--config demo_decision`` reads demo_decision.yaml).
BUNDLED_CONFIGS = "resources/configs"


class Section(BaseModel):
    """A config section: unknown keys are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def registered(registry: Any, value: str) -> str:
    """``value`` when ``registry`` knows it (or it is a dotted path); a ValueError otherwise."""
    try:
        return registry.check(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


class LoraSettings(Section):
    """LoRA adapters (peft). ``enabled: false`` trains all weights.

    ``layers`` limits adapters to the top N transformer layers: backward then stops there, which
    roughly halves the step time of a small model on CPU.
    """

    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"
    layers: int | None = Field(None, ge=1)
    merge: bool = True


class PromptSettings(Section):
    """How decision points are shown to the policy (saved beside the trained model).

    ``domain`` is a bundled domain name or a domain YAML file; ``expert``/``user`` override the
    domain's names when set.
    """

    domain: str = DEFAULT_DOMAIN
    expert: str | None = None
    user: str | None = None
    max_context_chars: int | None = Field(600, ge=1)
    show_progress: bool = False

    @field_validator("domain")
    @classmethod
    def _domain_loads(cls, value: str) -> str:
        try:
            cached_domain(value)
        except Learn2AskError as exc:
            raise ValueError(str(exc)) from None
        return value

    def load_domain(self) -> Domain:
        """The validated domain these settings name."""
        return cached_domain(self.domain)

    def to_policy_config(self) -> PolicyPromptConfig:
        """The :class:`PolicyPromptConfig` these settings describe."""
        return PolicyPromptConfig.from_domain(
            self.load_domain(),
            self.max_context_chars,
            expert=self.expert,
            user=self.user,
            show_progress=self.show_progress,
        )


class GRPOSettings(Section):
    """GRPO-specific settings: group size, sampling, KL, reward (also DPO's reward)."""

    num_generations: int = Field(4, ge=2)
    temperature: float = Field(1.0, gt=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    kl_beta: float = Field(0.0, ge=0.0)
    fusion: str = "hierarchical"
    fusion_beta: float = Field(2.0, ge=0.0)
    grader: str = "embedding"
    grader_file: str | None = None
    grader_base_url: str | None = None
    grader_model: str | None = None
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_server_base_url: str | None = None

    @field_validator("fusion")
    @classmethod
    def _fusion_known(cls, value: str) -> str:
        return registered(FUSIONS, value)

    @field_validator("grader")
    @classmethod
    def _grader_known(cls, value: str) -> str:
        return registered(GRADERS, value)

    def grader_config(self, domain: Domain | None, cache_path: Path | None) -> GraderConfig:
        """The reward's grader and fusion, for :func:`learn2ask.rewards.scorer.build_scorer`."""
        return GraderConfig(
            kind=self.grader,
            file=Path(self.grader_file) if self.grader_file else None,
            base_url=self.grader_base_url,
            model=self.grader_model,
            cache_path=cache_path,
            fusion=self.fusion,
            beta=self.fusion_beta,
            domain=domain,
        )


class DPOSettings(Section):
    """DPO-specific settings: the preference strength and how rejected replies are sampled."""

    beta: float = Field(0.1, gt=0.0)
    rejected_candidates: int = Field(2, ge=1)
    rejected_temperature: float = Field(1.0, gt=0.0)


class DecisionSettings(Section):
    """The ``decision_sft`` recipe and the decision rule every method saves beside its model.

    ``top_layers``: only the top N transformer layers train; the frozen layers below run once
    per example and their activations are reused every epoch. ``loss_weight``: weight of the
    binary cross-entropy on P(stop) (the first reply token) added to the language-model loss.
    ``validation_fraction`` of the training dialogues is held out (never trained on) to
    calibrate the STOP threshold on up to ``validation_points`` balanced decision points.
    """

    top_layers: int = Field(6, ge=1)
    loss_weight: float = Field(1.0, ge=0.0)
    cache_batch_size: int = Field(16, ge=1)
    # "same_length": batches hold examples of one length (no padding; on the demo's 640 points
    # most batches are smaller than batch_size: 3.1 examples a step); "sorted": full batches of
    # neighbours in length order, right-padded (exact for the real tokens: attention is causal).
    batch_grouping: Literal["same_length", "sorted"] = "same_length"
    # Where the frozen layers' cached activations live: "auto" keeps them on the GPU while they
    # take at most a quarter of its free memory, else in pinned host memory (a step copies its
    # batch over); "device" / "cpu" force one. The 0.5B recipe's 7.1 GiB: 23.3 GiB allocated
    # at peak on the GPU, 16.0 in host memory, as fast (benchmarks/results/gpu_recipes_h200/).
    cache_on: Literal["auto", "device", "cpu"] = "auto"
    validation_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    validation_points: int = Field(200, ge=1)
    calibrate: bool = True
    ask_reward_samples: int = Field(32, ge=0)
    # Ask the logged question with the best hindsight R_a among the nearest training contexts
    # (models/question_memory.py); it holds verbatim expert questions from the training file.
    question_memory: bool = True
    memory_source: Literal["memory", "memory+generated"] = "memory"
    memory_neighbours: int = Field(50, ge=1)
    memory_max_points: int | None = Field(None, ge=1)  # a seeded sample of them; None: all
    # weight of the user's first message in the memory's similarity key (0.5 for assistants
    # people type to: more questions on the complaint, less R_a on snippet logs; README)
    memory_anchor_weight: float = Field(0.0, ge=0.0)
    # Fuse the LM's P(stop) with an embedding classifier of s* fitted on this many balanced
    # training points (models/stop_head.py): it carries the stop decision to sources the LM
    # never saw (docs/results.md, "Stop head"); false thresholds the LM's P(stop) alone. 4,000
    # points: validation AUC still rose from 1,000 to 4,000 (benchmarks/tune_stop_head.py
    # --curve), ~100 s more on 2 cores.
    stop_head: bool = True
    stop_head_points: int = Field(4000, ge=2)
    # How the two log-odds are combined (models/stop_head.py): "equal" weights (scaled to unit
    # spread) or "fitted" freely on the calibration points. A free fit learns the LM's worth
    # on the training sources and leans on it where it transfers worst
    # (benchmarks/tune_stop_fusion.py).
    stop_head_fusion: Literal["equal", "fitted"] = "equal"
    # Fuse a third log-odds: TF-IDF of the whole context (word 1-2-grams) -> logistic regression,
    # fitted on the same points (models/lexical_head.py). On the ~650 training dialogues each
    # of three demo runs' LM never saw it raised the fused AUC on MTS-Dialog by 0.02-0.03 and the
    # cut's balanced accuracy by 0.01-0.02 (benchmarks/tune_head_crossfit.py --lexical); ~5 s.
    stop_head_lexical: bool = True
    # The STOP share the natural cut is moved to (conversations in their natural course: the
    # live assistant, replay, natural-mix runs). None: the training file's own share, counted
    # on every point; set it for a deployment whose conversations stop more or less often
    # than the mix of logs trained on (the demo's mix: 0.40; MTS-Dialog alone 0.20).
    natural_stop_share: float | None = Field(None, gt=0.0, lt=1.0)


class TrainConfig(Section):
    """One training run. ``init_from`` starts from an earlier run's model (e.g. GRPO after SFT)."""

    method: str = "sft"
    model: str = "smollm2-135m-instruct"
    init_from: str | None = None
    train_file: str = "data/train.jsonl"
    output_dir: str = "runs/train"
    seed: int = 0
    max_samples: int | None = Field(None, ge=1)
    stop_fraction: float | None = Field(0.5, gt=0.0, lt=1.0)
    balance_per_source: bool = True  # stop_fraction within each data source (data/sampling.py)
    learning_rate: float = Field(2e-4, gt=0.0)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int = Field(-1, ge=-1)
    batch_size: int = Field(8, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    max_length: int = Field(512, ge=8)
    max_completion_length: int = Field(32, ge=1)
    gradient_checkpointing: bool = False
    warmup_steps: int = Field(0, ge=0)
    save_steps: int = Field(10, ge=0)  # 0: no checkpoints
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    report_to: list[str] = Field(default_factory=list)
    torch_threads: int | None = Field(None, ge=1)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    dpo: DPOSettings = Field(default_factory=DPOSettings)
    decision: DecisionSettings = Field(default_factory=DecisionSettings)

    @field_validator("method")
    @classmethod
    def _method_known(cls, value: str) -> str:
        return registered(METHOD_REGISTRY, value)

    @model_validator(mode="after")
    def _combinations(self) -> TrainConfig:
        problems = combination_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for summaries and YAML)."""
        return self.model_dump()


def combination_problems(config: TrainConfig) -> list[str]:
    """Settings that are valid alone but impossible together."""
    problems = []
    if config.max_steps == 0:
        problems.append("max_steps: 0 trains nothing (-1 = run the epochs)")
    if config.lora.layers is not None and not config.lora.enabled:
        problems.append("lora.layers: needs lora.enabled true")
    endpoint = config.grpo.grader_base_url and config.grpo.grader_model
    if config.method in ("grpo", "dpo") and config.grpo.grader == "llm" and not endpoint:
        problems.append("grpo.grader: llm needs grpo.grader_base_url and grpo.grader_model")
    group = config.batch_size * config.gradient_accumulation
    if config.method == "grpo" and group % config.grpo.num_generations:
        problems.append(
            f"grpo.num_generations: {config.grpo.num_generations} must divide batch_size x "
            f"gradient_accumulation = {group}"
        )
    return problems


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Build a :class:`TrainConfig`; every problem is named, one line each, in one error."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        lines = [error_line(err) for err in exc.errors()]
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(lines)) from None


def error_line(err: Any) -> str:
    """``key.path: reason`` for one pydantic error (unknown keys get a "did you mean")."""
    loc = [str(part) for part in err["loc"]]
    where = ".".join(loc) or "config"
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(loc[-1], known_keys(loc[:-1]), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{where}: unknown key{hint}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "value_error" and not loc:
        return message
    value = err.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
    return f"{where}: {message}{shown}"


def known_keys(section: list[str]) -> list[str]:
    """Field names of the config section at ``section`` (the top level for ``[]``)."""
    model: Any = TrainConfig
    for name in section:
        field = model.model_fields.get(name)
        if field is None or not isinstance(field.annotation, type):
            return []
        model = field.annotation
    return list(model.model_fields)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"lora.r=8"`` -> (``["lora", "r"]``, 8); the value is read as YAML (``null``, lists)."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. lora.r=8")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each ``key.sub=value`` in the raw config (validation names any bad key later)."""
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for name in path[:-1]:
            child = node.get(name)
            if not isinstance(child, dict):
                child = {}
                node[name] = child
            node = child
        node[path[-1]] = value
    return data


def config_path(name_or_file: str | Path) -> Path:
    """The file of a shipped training config's name (``demo_decision``), else the path given."""
    return bundled_yaml(name_or_file, BUNDLED_CONFIGS, "config")


def load_train_config(
    path: str | Path | None, overrides: list[str] | None = None, **options: Any
) -> TrainConfig:
    """Read a YAML config (a file, or the name of a shipped one such as ``demo_decision``; else
    the defaults), apply ``--set`` overrides and the non-None ``options`` (command-line flags),
    then validate everything at once."""
    if path is not None:
        path = config_path(path)
    data = read_yaml_mapping(path, "config") if path is not None else {}
    apply_overrides(data, list(overrides or []))
    data.update({k: v for k, v in options.items() if v is not None})
    return config_from_dict(data, str(path or "<defaults>"))
