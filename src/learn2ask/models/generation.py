"""Batched local chat generation: chat template, left padding, KV-cached ``generate``.

Sampling is seeded per batch, so the same prompts, config and seed give the same replies.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 40
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    batch_size: int = 8
    # Token ids that may never be generated (the decision rule bans the stop tag's first token
    # when it has decided to ask; an OpenAI endpoint gets the same as ``logit_bias`` -100).
    suppress_token_ids: tuple[int, ...] = ()


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first stop string (exclusive)."""
    cut = len(text)
    for marker in stop:
        position = text.find(marker)
        if position >= 0:
            cut = min(cut, position)
    return text[:cut]


@functools.cache
def kv_cache_keyword() -> str:
    """transformers' name for the KV cache in a model's forward, its output and
    ``create_causal_mask`` (``past_key_values`` before transformers 5.2x, ``cache`` after)."""
    import inspect

    from transformers.masking_utils import create_causal_mask

    parameters = inspect.signature(create_causal_mask).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def shared_prefix_length(ids: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix all of ``ids`` share, leaving each at least one token."""
    if not ids:
        return 0
    limit = min(len(row) for row in ids) - 1
    first = ids[0]
    length = 0
    while length < limit and all(row[length] == first[length] for row in ids):
        length += 1
    return length


class LocalGenerator:
    """Generate chat replies with a local transformers model."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.tokens_generated = 0

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, device: str = "auto", dtype: str | None = None
    ) -> LocalGenerator:
        """Load a bundled name, local directory or hub id."""
        from learn2ask.models.loading import load_policy

        return cls(*load_policy(name_or_path, device=device, dtype=dtype))

    @property
    def device(self) -> Any:
        """The device the model's weights are on."""
        return next(self.model.parameters()).device

    def render(
        self,
        messages: Messages,
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
    ) -> str:
        """The prompt text for one conversation, ending where the assistant speaks (or, as
        vLLM's options of the same names ask, after a closed or still open last turn)."""
        return self.tokenizer.apply_chat_template(
            messages,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=continue_final_message,
            tokenize=False,
        )

    def generate(self, batch: Sequence[Messages], config: GenerationConfig) -> list[str]:
        """One reply per conversation, in input order."""
        prompts = [self.render(m) for m in batch]
        # Similar lengths batch together so little compute goes to padding.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        replies: list[str] = [""] * len(prompts)
        for start in range(0, len(order), config.batch_size):
            chunk = order[start : start + config.batch_size]
            texts = self._generate_chunk([prompts[i] for i in chunk], config, start)
            for index, text in zip(chunk, texts, strict=True):
                replies[index] = text
        return replies

    def generate_n(
        self, batch: Sequence[Messages], n: int, config: GenerationConfig
    ) -> list[list[str]]:
        """``n`` replies per conversation (rollout ``k`` uses seed ``config.seed + k``)."""
        rollouts = [self.generate(batch, replace(config, seed=config.seed + k)) for k in range(n)]
        return [[rollouts[k][i] for k in range(n)] for i in range(len(batch))]

    def next_token_probs(
        self, batch: Sequence[Messages], token_id: int, batch_size: int = 16
    ) -> list[float]:
        """P(the reply's first token is ``token_id``) for each conversation: one forward pass
        each (float32 softmax at the last prompt position, batched with left padding and
        position ids that ignore the padding, so a batched value equals the unbatched one).

        The tokens every prompt shares (the system prompt's opening: about a quarter of a demo
        prompt) run once per batch and enter as a KV cache, not once per prompt."""
        import torch

        ids = [self._prompt_ids(m) for m in batch]
        shared = shared_prefix_length(ids)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        probs: list[float] = [0.0] * len(ids)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            with torch.inference_mode():
                logits = self._last_logits([ids[i] for i in chunk], shared)
            values = torch.softmax(logits.float(), dim=-1)[:, token_id]
            for index, value in zip(chunk, values.tolist(), strict=True):
                probs[index] = float(value)
        return probs

    def mean_token_logprobs(self, texts: Sequence[str], batch_size: int = 64) -> list[float]:
        """Each text's mean log-probability per token as plain text (after the tokenizer's
        BOS token where it has one, else from its second token): how fluent the model finds
        it. Batched by length with right padding."""
        import torch

        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        ids = [bos + self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        scores: list[float] = [0.0] * len(ids)
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(order), batch_size):
            chunk = [ids[i] for i in order[start : start + batch_size]]
            width = max(len(row) for row in chunk)
            input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in chunk])
            mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in chunk])
            with torch.inference_mode():
                logits = (
                    self.model(
                        input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)
                    )
                    .logits[:, :-1]
                    .float()
                )
            logprobs = torch.log_softmax(logits, -1)
            taken = logprobs.gather(2, input_ids[:, 1:, None].to(self.device))[..., 0].cpu()
            scored = mask[:, 1:].float()
            means = (taken * scored).sum(1) / scored.sum(1).clamp(min=1.0)
            for index, value in zip(order[start : start + batch_size], means.tolist(), strict=True):
                scores[index] = float(value)
        return scores

    def reply_logprobs(self, messages: Messages, replies: Sequence[str]) -> list[float]:
        """log P(each of ``replies`` as the whole reply | the prompt ``messages``): its tokens
        and the end-of-turn token, summed. One forward pass for all of them: the prompt once,
        then every reply after it, each attending to the prompt and to itself only (a 4D
        attention mask; positions restart after the prompt), so scoring five replies costs
        about one pass of the prompt (a pass costs about the same at these lengths on a CPU)."""
        return self.next_token_and_replies(messages, replies)[1] if replies else []

    def next_token_and_replies(
        self, messages: Messages, replies: Sequence[str], token_id: int | None = None
    ) -> tuple[float | None, list[float]]:
        """P(the reply's first token is ``token_id``) (None without one) and
        :meth:`reply_logprobs` of ``replies``, from the same single pass: the prompt's last
        position gives both the first and each reply's first token."""
        import torch

        prompt = self._prompt_ids(messages)
        end = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        answers = [self.tokenizer(r, add_special_tokens=False)["input_ids"] + end for r in replies]
        starts = [len(prompt) + sum(len(a) for a in answers[:k]) for k in range(len(answers))]
        tokens = prompt + [token for answer in answers for token in answer]
        positions = list(range(len(prompt)))
        for answer in answers:
            positions += range(len(prompt), len(prompt) + len(answer))
        mask = _reply_tree_mask(len(prompt), [len(a) for a in answers], self.model.dtype)
        # Logits only from the prompt's last position on: the prompt's own are never read.
        kept = len(tokens) - len(prompt) + 1
        with torch.inference_mode():
            logits = self.model(
                input_ids=torch.tensor([tokens], device=self.device),
                attention_mask=mask.to(self.device),
                position_ids=torch.tensor([positions], device=self.device),
                logits_to_keep=kept,
            ).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        offset = len(prompt) - 1  # row 0 of the kept logits is the prompt's last position
        scores = []
        for start, answer in zip(starts, answers, strict=True):
            # the prompt's last position predicts each reply's first token
            rows = [0, *range(start - offset, start - offset + len(answer) - 1)]
            scores.append(float(logprobs[rows, answer].sum()))
        first = None if token_id is None else float(logprobs[0, token_id].exp())
        return first, scores

    def _prompt_ids(self, messages: Messages) -> list[int]:
        return self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"]

    def _last_logits(self, ids: list[list[int]], shared: int) -> Any:
        """Logits at each prompt's last position; ``ids[k][:shared]`` is the same for all."""
        import torch

        past = None
        if shared:
            # Rerun per batch (a 43-token pass, under 2% of a batch): the cache grows in place
            # with each forward, so one computed up front would need a deep copy per batch.
            prefix = torch.tensor([ids[0][:shared]], device=self.device)
            past = getattr(self.model(input_ids=prefix, use_cache=True), kv_cache_keyword())
            past.batch_repeat_interleave(len(ids))
        tails = [row[shared:] for row in ids]
        width = max(len(t) for t in tails)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.tensor([[pad] * (width - len(t)) + t for t in tails])
        tail_mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in tails])
        # Padding sits between the shared prefix and each tail: masked out, and the tail's
        # positions continue from the prefix as if there were none.
        positions = (shared + tail_mask.cumsum(-1) - 1).clamp(min=0)
        mask = torch.cat([torch.ones(len(ids), shared, dtype=tail_mask.dtype), tail_mask], -1)
        return self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            logits_to_keep=1,
            **{kv_cache_keyword(): past},
        ).logits[:, -1, :]

    def _generate_chunk(
        self, prompts: list[str], config: GenerationConfig, offset: int
    ) -> list[str]:
        import torch

        encoded = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": config.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if config.suppress_token_ids:
            kwargs["suppress_tokens"] = list(config.suppress_token_ids)
        if config.temperature > 0:
            kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        torch.manual_seed(config.seed * 1_000_003 + offset)
        with torch.inference_mode():
            output = self.model.generate(**encoded, **kwargs)
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        self.tokens_generated += int((new_tokens != self.tokenizer.pad_token_id).sum())
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [cut_at_stop(t, config.stop).strip() for t in texts]


def _reply_tree_mask(prompt: int, replies: Sequence[int], dtype: Any) -> Any:
    """The additive 4D attention mask of a prompt of length ``prompt`` followed by replies of
    the given lengths: causal within the prompt and within each reply, and every reply sees
    the whole prompt but no other reply."""
    import torch

    length = prompt + sum(replies)
    allowed = torch.zeros(length, length, dtype=torch.bool)
    allowed[:prompt, :prompt] = torch.ones(prompt, prompt, dtype=torch.bool).tril()
    start = prompt
    for size in replies:
        allowed[start : start + size, :prompt] = True
        own = torch.ones(size, size, dtype=torch.bool).tril()
        allowed[start : start + size, start : start + size] = own
        start += size
    mask = torch.zeros(1, 1, length, length, dtype=dtype)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)
