"""The generation engine behind ``serve-model``: windowed batching with per-row sampling.

Requests that arrive within ``batch_window_s`` of each other are generated together, bucketed by
prompt length so little compute goes to padding. Each row of a batch keeps its own sampling
settings (temperature, top_p, seed, logit_bias, grammar constraint), so requests with different
settings still share every forward pass. Between two tokens each row checks whether its client
has gone or its deadline has passed, and stops; the batch ends when every row has stopped.

Logprobs are the model's raw log-softmax (float32) at each step, before logit_bias, the grammar
mask, temperature and top_p: vLLM's default (``raw_logprobs``) and what
``LocalGenerator.next_token_probs`` computes, so a decision taken on them is the same locally and
through the server.
"""

from __future__ import annotations

import inspect
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from learn2ask.models.constrained import Constraint
from learn2ask.models.generation import cut_at_stop

Event = tuple[str, Any]
PROMPT_PIECE = 512  # prompt tokens per forward pass when scoring a prompt (prompt_logprobs)


@dataclass(frozen=True)
class SamplingParams:
    """How one choice is decoded."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int = 0
    logit_bias: tuple[tuple[int, float], ...] = ()


@dataclass
class Sequence:
    """One choice being generated; events go to ``sink`` (called from the engine thread)."""

    prompt_ids: list[int]
    params: SamplingParams
    sink: Callable[[Event], None]
    deadline: float
    constraint: Constraint | None = None
    # vLLM's ``prompt_logprobs``: None, or how many top tokens to list beside each prompt token's
    prompt_logprobs: int | None = None
    cancelled: bool = False
    token_ids: list[int] = field(default_factory=list)
    emitted: int = 0
    finish_reason: str | None = None
    rng: torch.Generator = field(default_factory=torch.Generator)

    def __post_init__(self) -> None:
        seed = self.params.seed if self.params.seed is not None else secrets.randbits(62)
        self.rng.manual_seed(seed % 2**63)


class ServeEngine:
    """Batches :class:`Sequence` objects through ``generator.model`` in a worker thread."""

    def __init__(
        self,
        generator: Any,
        max_batch_size: int = 16,
        batch_window_s: float = 0.02,
    ) -> None:
        self.model = generator.model
        self.tokenizer = generator.tokenizer
        self.render = generator.render
        self.max_batch_size = max_batch_size
        self.batch_window_s = batch_window_s
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.vocab_size = int(self.model.config.vocab_size)
        self.eos_ids = self._eos_ids()
        forward_args = inspect.signature(self.model.forward).parameters
        self._cache_argument = "cache" if "cache" in forward_args else "past_key_values"
        self._byte_decoder = byte_decoder()
        self.batches_run = 0
        self.requests_served = 0
        self.sequences_cancelled = 0
        self.sequences_timed_out = 0
        self.prompt_tokens = 0  # of every sequence submitted
        self.generated_tokens = 0
        self._queue: queue.Queue[Sequence | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="serve-engine", daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker thread after the batch it is running."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def prompt_ids(
        self,
        messages: list[dict[str, str]],
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
    ) -> list[int]:
        """The prompt's token ids, exactly as ``LocalGenerator`` tokenizes it."""
        text = self.render(messages, add_generation_prompt, continue_final_message)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def submit(self, sequence: Sequence) -> None:
        """Queue one sequence; its events arrive through its sink."""
        self.prompt_tokens += len(sequence.prompt_ids)
        self._queue.put(sequence)

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(configured if isinstance(configured, list) else [configured])
        return {i for i in ids if i is not None}

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = self._collect(first)
            for bucket in self._buckets(batch):
                try:
                    self._run(bucket)
                except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
                    for seq in bucket:
                        if seq.finish_reason is None:
                            seq.finish_reason = "error"
                            seq.sink(("error", f"{type(exc).__name__}: {exc}"))
            if batch[-1] is None:
                return

    def _collect(self, first: Sequence) -> list[Any]:
        """``first`` and whatever else arrives within the batching window."""
        batch: list[Any] = [first]
        window_end = time.monotonic() + self.batch_window_s
        while len(batch) < self.max_batch_size:
            remaining = window_end - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            batch.append(item)
            if item is None:  # the stop sentinel: finish this batch, then return
                break
        return batch

    def _buckets(self, batch: list[Sequence | None]) -> list[list[Sequence]]:
        """Split by prompt length: a bucket's longest prompt is at most ~2x its shortest."""
        live = sorted((s for s in batch if s is not None), key=lambda s: len(s.prompt_ids))
        buckets: list[list[Sequence]] = []
        for seq in live:
            if buckets and len(seq.prompt_ids) <= 2 * len(buckets[-1][0].prompt_ids) + 32:
                buckets[-1].append(seq)
            else:
                buckets.append([seq])
        return buckets

    def _run(self, bucket: list[Sequence]) -> None:
        """Generate one bucket to the end (every row stopped)."""
        rows = [s for s in bucket if not self._should_stop(s)]
        if not rows:
            return
        self.batches_run += 1
        self.requests_served += len(rows)
        ids, mask = self._left_pad([s.prompt_ids for s in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = None
        with torch.inference_mode():
            for seq in rows:
                if seq.prompt_logprobs is not None:
                    scored = self.prompt_logprobs(seq.prompt_ids, seq.prompt_logprobs)
                    seq.sink(("prompt_logprobs", scored))
            while True:
                logits, cache = self._forward(ids, mask, positions, cache)
                next_ids = self._step(rows, logits)
                if all(s.finish_reason is not None for s in rows):
                    return
                ids = torch.tensor(next_ids, dtype=torch.long, device=mask.device).unsqueeze(-1)
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
                positions = positions[:, -1:] + 1

    def prompt_logprobs(self, prompt_ids: list[int], top: int) -> list[dict[str, Any] | None]:
        """vLLM's ``prompt_logprobs``: for each prompt token after the first, its raw logprob
        given the tokens before it, its rank, and the ``top`` most likely tokens there, keyed by
        token id (the first token has no context: None)."""
        device = next(self.model.parameters()).device
        scored: list[dict[str, Any] | None] = [None]
        cache = None
        # The prompt in pieces through the KV cache: the logits of a whole 8k-token prompt at
        # once would take 1.6 GB (49k-token vocabulary, float32); a piece's take 100 MB.
        for start in range(0, len(prompt_ids), PROMPT_PIECE):
            piece = torch.tensor([prompt_ids[start : start + PROMPT_PIECE]], device=device)
            with torch.inference_mode():
                out = self.model(input_ids=piece, use_cache=True, **{self._cache_argument: cache})
            cache = getattr(out, self._cache_argument)
            rows = torch.log_softmax(out.logits[0].float(), dim=-1).cpu()
            targets = prompt_ids[start + 1 : start + 1 + len(rows)]
            for row, token in zip(rows[: len(targets)], targets, strict=True):
                scored.append(self._prompt_entry(row, token, top))
        return scored

    def _prompt_entry(self, row: torch.Tensor, token: int, top: int) -> dict[str, Any]:
        chosen = float(row[token])
        entry = {str(token): self._ranked(token, chosen, int((row > row[token]).sum()) + 1)}
        if top:
            values, indices = torch.topk(row, top)
            ranked = enumerate(zip(values.tolist(), indices.tolist(), strict=True), 1)
            for rank, (value, index) in ranked:
                entry.setdefault(str(index), self._ranked(index, value, rank))
        return entry

    def _ranked(self, token: int, logprob: float, rank: int) -> dict[str, Any]:
        return {"logprob": logprob, "rank": rank, "decoded_token": self.tokenizer.decode([token])}

    def _forward(
        self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any
    ) -> tuple[torch.Tensor, Any]:
        """Last-position float32 logits and the updated KV cache (``cache`` in transformers 5.24+,
        ``past_key_values`` before)."""
        key = self._cache_argument
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{key: cache},
        )
        return out.logits[:, -1, :].float(), getattr(out, key)

    def _left_pad(self, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        device = next(self.model.parameters()).device
        return ids.to(device), mask.to(device)

    def _step(self, rows: list[Sequence], logits: torch.Tensor) -> list[int]:
        """Choose each live row's next token, emit its events; the ids to feed next."""
        logits = logits.cpu()
        raw = torch.log_softmax(logits, dim=-1)
        next_ids: list[int] = []
        for row, seq in enumerate(rows):
            if seq.finish_reason is not None:
                next_ids.append(seq.token_ids[-1] if seq.token_ids else 0)
                continue
            if self._should_stop(seq):
                next_ids.append(0)
                continue
            token = self._choose(seq, logits[row].clone())
            next_ids.append(token)
            self._accept(seq, token, raw[row])
        return next_ids

    def _should_stop(self, seq: Sequence) -> bool:
        """Finish ``seq`` if its client left or its time is up."""
        if seq.finish_reason is not None:
            return True
        if seq.cancelled:
            self._finish(seq, "cancelled")
        elif time.monotonic() > seq.deadline:
            self._finish(seq, "timeout")
        return seq.finish_reason is not None

    def _choose(self, seq: Sequence, row: torch.Tensor) -> int:
        params = seq.params
        for token, bias in params.logit_bias:
            if 0 <= token < row.numel():
                row[token] += bias
        if seq.constraint is not None:
            seq.constraint.apply(row)
        if not bool(torch.isfinite(row).any()):  # everything banned: end the reply
            return min(self.eos_ids)
        if params.temperature == 0:
            return int(row.argmax())
        probs = torch.softmax(row / params.temperature, dim=-1)
        if params.top_p < 1.0:
            probs = _top_p(probs, params.top_p)
        return int(torch.multinomial(probs, 1, generator=seq.rng))

    def _accept(self, seq: Sequence, token: int, raw: torch.Tensor) -> None:
        """Record ``token``; stream the new text; finish on EOS, grammar end, stop or length."""
        is_eos = token in self.eos_ids
        entry = self._logprob_entry(seq, token, raw) if seq.params.logprobs else None
        if seq.constraint is not None and not is_eos:
            seq.constraint.advance(token)
        seq.token_ids.append(token)
        self.generated_tokens += 1
        text = self.tokenizer.decode(seq.token_ids, skip_special_tokens=True)
        reason = self._finish_reason(seq, is_eos, text)
        if reason == "stop" and not is_eos:
            text = cut_at_stop(text, seq.params.stop)
        safe = len(text) if reason else self._safe_length(text, seq.params.stop)
        delta = text[seq.emitted : safe] if safe > seq.emitted else ""
        seq.emitted = max(seq.emitted, safe)
        seq.sink(("token", (delta, entry)))
        if reason:
            self._finish(seq, reason)

    def _finish_reason(self, seq: Sequence, is_eos: bool, text: str) -> str | None:
        if is_eos or any(s in text for s in seq.params.stop):
            return "stop"
        if seq.constraint is not None and seq.constraint.finished():
            return "stop"
        if len(seq.token_ids) >= seq.params.max_tokens:
            return "length"
        return None

    @staticmethod
    def _safe_length(text: str, stop: tuple[str, ...]) -> int:
        """How much of ``text`` can be sent now: not a partial stop string or UTF-8 sequence."""
        safe = len(text) - (max((len(s) for s in stop), default=1) - 1)
        while safe > 0 and text[safe - 1] == "\ufffd":
            safe -= 1
        return max(safe, 0)

    def _logprob_entry(self, seq: Sequence, token: int, raw: torch.Tensor) -> dict[str, Any]:
        entry = self._token_info(token, float(raw[token]))
        k = seq.params.top_logprobs
        top: list[dict[str, Any]] = []
        if k:
            values, indices = torch.topk(raw, k)
            top = [
                self._token_info(int(i), float(v))
                for v, i in zip(values.tolist(), indices.tolist(), strict=True)
            ]
        entry["top_logprobs"] = top
        return entry

    def _token_info(self, token: int, logprob: float) -> dict[str, Any]:
        text = self.tokenizer.decode([token])
        return {"token": text, "logprob": logprob, "bytes": self._token_bytes(token, text)}

    def _token_bytes(self, token: int, text: str) -> list[int]:
        """The token's own bytes (a byte-level BPE piece may be part of a UTF-8 character)."""
        piece = self.tokenizer.convert_ids_to_tokens(token)
        if isinstance(piece, str) and piece and all(c in self._byte_decoder for c in piece):
            return [self._byte_decoder[c] for c in piece]
        return list(text.encode("utf-8"))

    def _finish(self, seq: Sequence, reason: str) -> None:
        seq.finish_reason = reason
        self.sequences_cancelled += reason == "cancelled"
        self.sequences_timed_out += reason == "timeout"
        seq.sink(("finish", (reason, len(seq.token_ids))))


def byte_decoder() -> dict[str, int]:
    """GPT-2 byte-level BPE's printable character for each byte, inverted."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability reaches ``top_p`` (nucleus)."""
    ordered, indices = torch.sort(probs, descending=True)
    before = ordered.cumsum(-1) - ordered
    ordered[before >= top_p] = 0.0
    kept = torch.zeros_like(probs).scatter_(-1, indices, ordered)
    return kept / kept.sum()
