"""Decision-first SFT: learn the expert's next action with an explicit loss on *when to stop*.

Config in, artifacts out (``OUT/model``, ``OUT/train_log.jsonl``, ``OUT/training_summary.json``,
and the calibrated decision rule in ``OUT/model/learn2ask_policy.json``).

Why a recipe of its own (README, Results): plain SFT spends its budget on the question's words
and learns a stop *rate*, not a stop *point*; greedy decoding then hides what it does learn.
Here:

1. **Targets** as in SFT: the stop tag on STOP points, the expert's next question on CONTINUE
   points (``stop_fraction`` sets the mix, balanced by default).
2. **Loss** = language-model cross-entropy on the reply + ``loss_weight`` x binary cross-entropy
   of P(stop), the probability of the stop tag's first token at the first reply position: the
   quantity the decision rule thresholds.
3. **Cheap steps**: only the top ``top_layers`` layers train. The frozen layers below run once
   per example (no gradient, batched by length) and their activations are reused every epoch,
   so an epoch costs the top layers' forward and backward only, and logits are computed only at
   the reply positions.
4. **Calibration**: ``validation_fraction`` of the training dialogues is held out and the STOP
   threshold is chosen there (``training/threshold.py``), then saved beside the model.

Resumable: a checkpoint (top layers, optimiser, schedule, step) is written every ``save_steps``
and ``--resume`` continues from the newest complete one.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample
from learn2ask.errors import ConfigError
from learn2ask.io import write_json_atomic
from learn2ask.models.decision import save_decision_rule, stop_token_of
from learn2ask.models.generation import kv_cache_keyword, shared_prefix_length
from learn2ask.targets.base import reference_reply
from learn2ask.training import common
from learn2ask.training.config import TrainConfig
from learn2ask.training.threshold import balanced_points, calibrate_threshold, split_validation


@dataclass
class Batch:
    """Cached lower-layer activations of a padded batch and what to predict from them."""

    hidden: Any  # [B, T, d] float32, right-padded
    mask: Any  # [B, T] 1 = real token
    target_rows: Any  # [N] flat indices (b * T + t) of positions that predict a reply token
    target_ids: Any  # [N] the reply tokens
    first_rows: Any  # [B] flat index of the position predicting the reply's first token
    is_stop: Any  # [B] 1.0 for STOP samples


def encode(sample: Sample, tokenizer: Any, config: TrainConfig) -> tuple[list[int], list[int]]:
    """Prompt ids (chat template, generation prompt) and reply ids (reply + end of turn)."""
    prompt = tokenizer.apply_chat_template(
        common.prompt_messages(sample, config), add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(reference_reply(sample), add_special_tokens=False)["input_ids"]
    return prompt_ids, [*reply_ids, tokenizer.eos_token_id]


def run_layers(model: Any, hidden: Any, mask: Any, layers: Any, cache: Any = None) -> Any:
    """Run ``layers`` of a decoder-only model on right-padded ``hidden`` states; with ``cache``
    (the KV cache of a prefix shared by every row, filled by these layers), ``hidden`` holds the
    tokens after that prefix and the cache grows by them."""
    import torch
    from transformers.masking_utils import create_causal_mask

    keyword = kv_cache_keyword()
    offset = cache.get_seq_length() if cache is not None else 0
    positions = (offset + mask.cumsum(-1) - 1).clamp(min=0)
    if cache is not None:
        mask = torch.cat([mask.new_ones(mask.shape[0], offset), mask], dim=-1)
    # Padding sits only on the right, so under causal attention no real token sees a pad: the
    # fast causal path (3-4x faster on CPU than an explicit padding mask) is exact for every
    # real position; a pad's own output is never read.
    causal = create_causal_mask(
        config=model.config,
        inputs_embeds=hidden,
        attention_mask=None if right_padded(mask) else mask,
        position_ids=positions,
        **{keyword: cache},
    )
    embeddings = model.model.rotary_emb(hidden, position_ids=positions)
    for layer in layers:
        hidden = layer(
            hidden,
            attention_mask=causal,
            position_embeddings=embeddings,
            position_ids=positions,
            use_cache=cache is not None,
            **{keyword: cache},
        )
    return hidden


def right_padded(mask: Any) -> bool:
    """Whether every row of an attention mask is ones followed by zeros only."""
    return bool((mask[:, 1:] <= mask[:, :-1]).all())


def cache_bytes(examples: list[tuple[list[int], list[int], bool]], hidden_size: int) -> int:
    """Bytes the cached float32 activations of ``examples`` take (padding aside)."""
    return 4 * hidden_size * sum(len(prompt) + len(reply) for prompt, reply, _ in examples)


def cache_home(setting: str, need_bytes: int, free_bytes: int | None) -> str:
    """``"device"`` or ``"cpu"``: where the cache goes. ``"auto"`` keeps it on a GPU with
    ``free_bytes`` free while it needs at most a quarter of that (the top layers' training
    needs the rest), else host memory; ``free_bytes`` None (no GPU): the device."""
    if setting != "auto":
        return setting
    return "device" if free_bytes is None or need_bytes <= free_bytes / 4 else "cpu"


def cache_batches(
    model: Any,
    examples: list[tuple[list[int], list[int], bool]],
    n_frozen: int,
    batch_size: int,
    pad_id: int,
    share_prefix: bool = True,
    grouping: str = "same_length",
    store: str = "device",
) -> list[Batch]:
    """Run the frozen layers once over every example, batched by length (``grouping``:
    ``same_length`` without padding, or ``sorted`` into full right-padded batches); the
    activations stay on the model's device, or go to (pinned) host memory with ``store="cpu"``.

    The tokens every prompt shares (the system prompt's opening: about a quarter of a demo
    prompt) run through the frozen layers once; each batch runs only its own tokens, attending
    to that prefix's KV cache, and its cached activations are the prefix's followed by its own
    (``share_prefix=False``: every token of every example, for comparison; ``make bench``).
    """
    import copy

    import torch

    device = next(model.parameters()).device
    frozen = model.model.layers[:n_frozen]
    share = share_prefix and n_frozen > 0
    shared = shared_prefix_length([prompt for prompt, _, _ in examples]) if share else 0
    prefix_hidden, prefix_cache = None, None
    if shared:
        from transformers import DynamicCache

        prefix = torch.tensor([examples[0][0][:shared]], device=device)
        prefix_cache = DynamicCache(config=model.config)
        with torch.no_grad():
            prefix_hidden = run_layers(
                model,
                model.model.embed_tokens(prefix),
                torch.ones_like(prefix),
                frozen,
                prefix_cache,
            )
    batches = []
    groups = length_groups if grouping == "same_length" else sorted_groups
    for indices in groups(examples, batch_size):
        chunk = [examples[i] for i in indices]
        width = max(len(p) + len(r) for p, r, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        rows, targets, firsts = [], [], []
        for b, (prompt, reply, _) in enumerate(chunk):
            sequence = prompt + reply
            ids[b, : len(sequence)] = torch.tensor(sequence)
            mask[b, : len(sequence)] = 1
            # Position i predicts token i + 1: the reply is predicted from len(prompt) - 1 on.
            first = b * width + len(prompt) - 1
            rows.extend(range(first, first + len(reply)))
            targets.extend(reply)
            firsts.append(first)
        ids, mask = ids.to(device), mask.to(device)
        with torch.no_grad():  # not inference_mode: the cache feeds autograd later
            cache = None
            if prefix_cache is not None:
                cache = copy.deepcopy(prefix_cache)  # each batch's tokens extend it in place
                cache.batch_repeat_interleave(len(chunk))
            hidden = run_layers(
                model, model.model.embed_tokens(ids[:, shared:]), mask[:, shared:], frozen, cache
            )
            if prefix_hidden is not None:
                hidden = torch.cat([prefix_hidden.expand(len(chunk), -1, -1), hidden], dim=1)
        if store == "cpu":
            hidden = hidden.to("cpu")
            hidden = hidden.pin_memory() if device.type == "cuda" else hidden
        batches.append(
            Batch(
                hidden=hidden.clone() if store == "device" else hidden,
                mask=mask,
                target_rows=torch.tensor(rows, device=device),
                target_ids=torch.tensor(targets, device=device),
                first_rows=torch.tensor(firsts, device=device),
                is_stop=torch.tensor([float(stop) for _, _, stop in chunk], device=device),
            )
        )
    return batches


def length_groups(
    examples: list[tuple[list[int], list[int], bool]], batch_size: int
) -> list[list[int]]:
    """Batches of equal total length, so nothing is padded (the last batch of a length may be
    smaller)."""
    by_length: dict[int, list[int]] = {}
    for index, (prompt, reply, _) in enumerate(examples):
        by_length.setdefault(len(prompt) + len(reply), []).append(index)
    return [
        indices[i : i + batch_size]
        for length in sorted(by_length)
        for indices in [by_length[length]]
        for i in range(0, len(indices), batch_size)
    ]


def sorted_groups(
    examples: list[tuple[list[int], list[int], bool]], batch_size: int
) -> list[list[int]]:
    """Full batches of examples adjacent in length order (padded to the longest of each)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]) + len(examples[i][1]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def batch_loss(model: Any, batch: Batch, n_frozen: int, stop_id: int, weight: float) -> Any:
    """LM cross-entropy on the reply tokens + ``weight`` x BCE of P(stop) at the first one."""
    import torch
    import torch.nn.functional as F

    hidden = batch.hidden.to(batch.mask.device, non_blocking=True)  # no copy when there already
    hidden = run_layers(model, hidden, batch.mask, model.model.layers[n_frozen:])
    flat = model.model.norm(hidden).reshape(-1, hidden.shape[-1])
    logits = model.lm_head(flat[batch.target_rows]).float()
    lm_loss = F.cross_entropy(logits, batch.target_ids)
    first_logits = model.lm_head(flat[batch.first_rows]).float()
    log_p_stop = torch.log_softmax(first_logits, dim=-1)[:, stop_id]
    log_p_ask = torch.log1p(-log_p_stop.exp().clamp(max=1 - 1e-6))
    decision_loss = -(batch.is_stop * log_p_stop + (1 - batch.is_stop) * log_p_ask).mean()
    return lm_loss + weight * decision_loss, lm_loss, decision_loss


def trainable_parameters(model: Any, n_frozen: int) -> list[Any]:
    """Freeze everything but the top layers and the final norm; return what trains."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    params = [p for layer in model.model.layers[n_frozen:] for p in layer.parameters()]
    params.extend(model.model.norm.parameters())
    for parameter in params:
        parameter.requires_grad_(True)
    return params


def save_checkpoint(out: Path, step: int, model: Any, n_frozen: int, optimizer: Any) -> None:
    """Top layers + optimiser at ``step``; ``trainer_state.json`` is written last, so a
    checkpoint cut off mid-save is never resumed from."""
    import torch

    path = out / common.CHECKPOINT_DIR / f"checkpoint-{step}"
    path.mkdir(parents=True, exist_ok=True)
    state = {name: t for name, t in model.state_dict().items() if _is_trained(name, n_frozen)}
    torch.save({"model": state, "optimizer": optimizer.state_dict()}, path / "state.pt")
    write_json_atomic(path / "trainer_state.json", {"global_step": step})
    for old in (out / common.CHECKPOINT_DIR).glob("checkpoint-*"):
        if old != path and old.name.split("-")[-1].isdigit() and int(old.name[11:]) < step:
            for file in old.iterdir():
                file.unlink()
            old.rmdir()


def _is_trained(name: str, n_frozen: int) -> bool:
    if name.startswith("model.norm."):
        return True
    parts = name.split(".")
    return len(parts) > 3 and parts[1] == "layers" and int(parts[2]) >= n_frozen


def load_checkpoint(out: Path, model: Any, optimizer: Any) -> int:
    """Restore the newest complete checkpoint; returns its step (0 when there is none)."""
    import torch

    checkpoint = common.last_complete_checkpoint(out)
    if checkpoint is None:
        return 0
    state = torch.load(checkpoint / "state.pt", weights_only=True)
    model.load_state_dict(state["model"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    return common.checkpoint_step(checkpoint)


def total_steps(config: TrainConfig, n_batches: int) -> int:
    """``max_steps`` when set, else ``epochs`` over the batches."""
    if config.max_steps > 0:
        return config.max_steps
    return max(1, math.ceil(config.epochs * n_batches))


def optimizer_and_schedule(params: list[Any], config: TrainConfig, steps: int) -> tuple[Any, Any]:
    """AdamW on the trained layers, with linear warm-up then linear decay to 0 at ``steps``."""
    import torch

    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    warmup = max(1, config.warmup_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: min(1.0, (i + 1) / warmup) * max(0.0, 1 - i / steps)
    )
    return optimizer, schedule


def batch_order(n_batches: int, steps: int, seed: int) -> list[int]:
    """Which batch each step trains on: a fresh shuffle per epoch, cut at ``steps``; the same
    order whether a run is resumed or not."""
    rng = random.Random(seed)
    order: list[int] = []
    for epoch_start in range(0, steps, n_batches):
        epoch = list(range(n_batches))
        rng.shuffle(epoch)
        order.extend(epoch[: steps - epoch_start])
    return order


def run(config: TrainConfig, resume: bool = False, embedder: Any = None) -> Path:
    """Train with decision-first SFT; returns the directory of the saved model.

    ``embedder``: the bundled embedding grader when the caller already holds one (the demo's
    evaluations do): the question memory, the stop head and the calibration embed with it, so
    a text either embeds is encoded once. It changes how long a run takes, never its result."""
    import torch

    embedder = checked_embedder(embedder)  # before any training: a wrong one is refused now
    run = common.start_run(config)
    model, tokenizer, out = run.model, run.tokenizer, run.out
    # float32 master weights even on a GPU: AdamW steps at lr ~1e-4 vanish in bf16 weights,
    # and a 135M-1.5B model's top layers fit a GPU in float32 (TF32 matmuls keep it fast).
    torch.backends.cuda.matmul.allow_tf32 = True
    model.to(device="cuda" if common.use_cuda() else "cpu", dtype=torch.float32)
    train_pool, validation = split_validation(
        load_samples(config.train_file), config.decision.validation_fraction, config.seed
    )
    samples = common.select_samples(train_pool, config)
    n_frozen = max(0, model.config.num_hidden_layers - config.decision.top_layers)
    examples = [(*encode(s, tokenizer, config), s.decision == "stop") for s in samples]
    model.eval()  # no dropout; the top layers still get gradients
    batches, cache_figures = cache_training_batches(model, tokenizer, examples, n_frozen, config)
    stop_id, _ = stop_token_of(tokenizer, config.prompt.to_policy_config().stop_tag)
    train_figures = train_top_layers(model, batches, n_frozen, stop_id, config, out, resume)
    del batches  # the activation cache (1.4 GiB on the GPU recipe) is not needed past training
    return finish(
        model,
        tokenizer,
        config,
        out,
        (train_pool, validation),
        run.started,
        embedder=embedder,
        extra={
            "train_samples": len(samples),
            "validation_samples": len(validation),
            "validation_dialogues": len({s.dialogue_id for s in validation}),
            **cache_figures,
            **train_figures,
        },
    )


def cache_training_batches(
    model: Any,
    tokenizer: Any,
    examples: list[tuple[list[int], list[int], bool]],
    n_frozen: int,
    config: TrainConfig,
) -> tuple[list[Batch], dict[str, Any]]:
    """The frozen layers' activations of every example, batched, on the device when they fit
    there (``decision.cache_on``), and the summary's figures of that cache."""
    import torch

    settings = config.decision
    device = next(model.parameters()).device
    need = cache_bytes(examples, model.config.hidden_size)
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    store = cache_home(settings.cache_on, need, free)
    started = time.perf_counter()
    batches = cache_batches(
        model,
        examples,
        n_frozen,
        config.batch_size,
        tokenizer.pad_token_id or 0,
        grouping=settings.batch_grouping,
        store=store,
    )
    seconds = time.perf_counter() - started
    home = "cpu" if store == "cpu" else device.type
    print(
        f"  [decision_sft] cached {len(examples)} examples in {len(batches)} batches "
        f"({need / 2**30:.1f} GiB on the {'host' if store == 'cpu' else device.type}; "
        f"{seconds:.0f} s)",
        flush=True,
    )
    figures = {
        "cache_seconds": round(seconds, 1),
        "cache_gib": round(need / 2**30, 2),
        "cache_on": home,
    }
    return batches, figures


def train_top_layers(
    model: Any,
    batches: list[Batch],
    n_frozen: int,
    stop_id: int,
    config: TrainConfig,
    out: Path,
    resume: bool,
) -> dict[str, Any]:
    """The optimisation steps on the cached batches (from the last checkpoint when
    ``resume``), logged and checkpointed; returns the summary's figures of the steps."""
    import torch

    params = trainable_parameters(model, n_frozen)
    steps = total_steps(config, len(batches))
    optimizer, schedule = optimizer_and_schedule(params, config, steps)
    step = load_checkpoint(out, model, optimizer) if resume else 0
    common.trim_log(out, step)
    with warnings.catch_warnings():  # fast-forwarding the schedule of a resumed run
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(step):
            schedule.step()
    log = common.JsonlLogCallback(out / common.LOG_FILE)
    order = batch_order(len(batches), steps, config.seed)
    started = time.perf_counter()
    for step_index in range(step, steps):
        loss, lm_loss, decision_loss = batch_loss(
            model, batches[order[step_index]], n_frozen, stop_id, config.decision.loss_weight
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        done = step_index + 1
        if done % config.logging_steps == 0 or done == steps:
            losses = {"loss": loss, "lm_loss": lm_loss, "decision_loss": decision_loss}
            log.write(
                done,
                {
                    **{name: float(value.detach()) for name, value in losses.items()},
                    "learning_rate": schedule.get_last_lr()[0],
                },
            )
        if done % 25 == 0 or done == steps:
            print(
                f"  [decision_sft] step {done}/{steps} loss {float(loss.detach()):.3f} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        if config.save_steps and done % config.save_steps == 0 and done < steps:
            save_checkpoint(out, done, model, n_frozen, optimizer)
        common.raise_if_interrupted()
    seconds = time.perf_counter() - started
    # Batches hold examples of one length, so most are smaller than batch_size: count them.
    trained = sum(len(batches[order[i]].is_stop) for i in range(step, steps))
    return {
        "steps": steps,
        "train_seconds": round(seconds, 1),
        "examples_trained": trained,
        "examples_per_second": round(trained / max(seconds, 1e-9), 2),
    }


def finish(
    model: Any,
    tokenizer: Any,
    config: TrainConfig,
    out: Path,
    splits: tuple[list[Sample], list[Sample]],
    started: float,
    extra: dict[str, Any],
    embedder: Any = None,
) -> Path:
    """Save the model and its question memory (built from the training dialogues ``splits[0]``),
    calibrate its decision rule on the validation dialogues ``splits[1]``, write the summary."""
    from learn2ask.models.generation import LocalGenerator
    from learn2ask.models.question_memory import default_grader

    target = save_model(model, tokenizer, config, out)
    settings = config.decision
    generator = LocalGenerator(model, tokenizer)  # the wording scores and the calibration
    if embedder is None and (settings.question_memory or settings.calibrate):
        embedder = default_grader()  # one for the memory, the head and the calibration
    memory = None
    if settings.question_memory:
        memory = build_question_memory(
            splits[0], settings, config.seed, embedder, config.prompt.load_domain()
        )
        score_memory_wording(memory, generator)
        memory.save(target)
        extra = {**extra, "question_memory": memory.settings.built_from}
    if settings.calibrate:
        extra = {
            **extra,
            **save_calibrated_rule(generator, config, target, splits, memory, embedder),
        }
    common.write_run_summary(
        config, out, started, ("step", "loss", "lm_loss", "decision_loss"), extra
    )
    return target


def save_model(model: Any, tokenizer: Any, config: TrainConfig, out: Path) -> Path:
    """Freeze the trained model (calibration and the memory's wording scores read it next)
    and save it with its tokenizer, prompt and domain."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
        parameter.grad = None  # the last step's gradients: a copy of the trained weights' size
    model.eval()
    common.release_cached_memory()
    return common.save_policy_files(model, tokenizer, config, out)


def save_calibrated_rule(
    generator: Any,
    config: TrainConfig,
    target: Path,
    splits: tuple[list[Sample], list[Sample]],
    memory: Any,
    embedder: Any,
) -> dict[str, Any]:
    """Fit the stop head on the training dialogues, cut the decision rule's thresholds on the
    validation dialogues, save both beside the model; the summary's entries for them."""
    settings = config.decision
    train_pool, validation = splits
    head_train = (
        balanced_points(train_pool, settings.stop_head_points, config.seed)
        if settings.stop_head
        else None
    )
    rule, head = calibrate_threshold(
        generator,
        config.prompt.to_policy_config(),
        validation,
        limit=settings.validation_points,
        ask_samples=settings.ask_reward_samples,
        beta=config.grpo.fusion_beta,
        seed=config.seed,
        memory=memory,
        head_train=head_train,
        head_fusion=settings.stop_head_fusion,
        head_lexical=settings.stop_head_lexical,
        natural_pool=[*train_pool, *validation],
        natural_share=settings.natural_stop_share,
        embedder=embedder,
    )
    entries: dict[str, Any] = {}
    if head is not None:
        head.save(target)
        entries["stop_head"] = head.provenance
    save_decision_rule(target, rule)
    entries["decision_rule"] = rule.__dict__
    return entries


def score_memory_wording(memory: Any, generator: Any) -> None:
    """Score how fluent the trained model finds each memory question that has a paraphrase,
    so that the memory asks the best-worded of equal questions (models/question_memory.py)."""
    started = time.perf_counter()
    scored = memory.score_fluency(generator.mean_token_logprobs)
    print(
        f"  [decision_sft] question wording: {scored} questions with a paraphrase scored "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )


def checked_embedder(embedder: Any) -> Any:
    """``embedder`` when it is the bundled embedding grader's version (the memory ranks its
    questions by that grader's R_a), None when none is given."""
    from learn2ask.models.question_memory import default_grader_version

    if embedder is not None and getattr(embedder, "version", None) != default_grader_version():
        raise ConfigError(
            f"decision_sft embeds with the bundled grader ({default_grader_version()}), "
            f"not {getattr(embedder, 'version', type(embedder).__name__)}"
        )
    return embedder


def build_question_memory(
    samples: list[Sample],
    settings: Any,
    seed: int,
    embedder: Any = None,
    domain: Any = None,
) -> Any:
    """The question memory of the training dialogues (never the validation ones), from a
    seeded sample of ``settings.memory_max_points`` CONTINUE points when that is set, with the
    checks ``domain`` (``learn2ask.domain.Domain``) gives it (:func:`domain_checks`)."""
    from learn2ask.models.question_memory import (
        QuestionMemory,
        QuestionMemorySettings,
        domain_checks,
    )

    started = time.perf_counter()
    points = [s for s in samples if s.decision == "continue" and s.info_set]
    if settings.memory_max_points is not None and len(points) > settings.memory_max_points:
        points = random.Random(seed).sample(points, settings.memory_max_points)
    memory = QuestionMemory.build(
        points,
        QuestionMemorySettings(
            source=settings.memory_source,
            neighbours=settings.memory_neighbours,
            anchor_weight=settings.memory_anchor_weight,
            **(domain_checks(domain) if domain is not None else {}),
        ),
        grader=embedder,
    )
    print(
        f"  [decision_sft] question memory: {memory.settings.built_from['points']} points, "
        f"{memory.settings.built_from['items']} questions ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return memory
