"""Decision-first policy: decide STOP vs ASK from the policy's own P(stop), then ask.

The paper's policy emits an (assessment, action) pair. Here the assessment is read off the
language model itself: **P(stop)** is the probability that the reply's first token is the first
token of the stop tag (one forward pass, float32 softmax at the last prompt position). A model
trained by ``decision_sft`` also carries a stop head (``models/stop_head.py``): an embedding
classifier of s* whose log-odds are fused with the LM's, and that fused P(stop) is what the rule
thresholds (``assessment="lm"`` reads the LM's alone). The decision rule saved beside a
trained model (``learn2ask_policy.json``, key ``decision``) says how to turn it into an action:

- ``threshold`` (default for trained models): STOP when P(stop) >= the threshold calibrated on a
  validation split carved from the training dialogues; otherwise ASK, generating the question
  with the stop tag's first token banned.
- ``greedy`` / ``sample``: decode a reply and parse it (what the model would say unguided);
  kept for comparison.

A threshold rule carries three cuts of the same calibration (``training/threshold.py``): one
for balanced STOP/CONTINUE points (the paper's evaluation), one for points drawn from
conversations in their natural course, where most expert turns are questions
(``natural_threshold``: the calibrated odds moved to the logs' STOP share), and one for a
conversation walked in order, where the first STOP ends it (``sequential_threshold``: the cut
with the best expected per-turn reward along the training dialogues). ``MIXES`` names them; a
natural-mix evaluation uses the natural cut, the live assistant, replay and whole-dialogue
evaluation the sequential one.

The same rule works through any OpenAI-compatible endpoint (``serve-model``, vLLM): P(stop)
comes from ``top_logprobs`` of the first generated token, and the ban is ``logit_bias`` -100;
the question memory's likelihood re-rank reads vLLM's ``prompt_logprobs``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from learn2ask.data.types import Turn
from learn2ask.errors import ConfigError, EndpointError
from learn2ask.models.generation import GenerationConfig, Messages
from learn2ask.models.policy import (
    PolicyPromptConfig,
    build_policy_messages,
    parse_policy_response,
    read_policy_section,
    write_policy_section,
)
from learn2ask.models.question_memory import SOURCES as MEMORY_SOURCES
from learn2ask.models.stop_head import ASSESSMENTS

Action = Literal["ask", "stop"]
RULES: tuple[str, ...] = ("threshold", "greedy", "sample")
# Which STOP share the threshold is cut for: balanced points, or conversations as they run.
MIXES: tuple[str, ...] = ("balanced", "natural", "sequential")
# Where the threshold rule's questions come from (models/question_memory.py).
QUESTION_SOURCES: tuple[str, ...] = ("generate", *MEMORY_SOURCES)
TOP_LOGPROBS = 20  # what vLLM allows by default; P(stop) below the 20th token reads as 0
# Prompts whose P(stop) a policy remembers (a few MB of digests); past it the memo starts over.
P_STOP_MEMO_LIMIT = 100_000


@dataclass(frozen=True)
class PolicyAction:
    """What the policy does at one decision point.

    ``p_stop`` is the policy's probability of stopping (None when the rule did not compute it),
    ``question`` the question when ``action == "ask"``, ``raw`` the generated text.
    """

    action: Action
    question: str | None
    p_stop: float | None
    raw: str
    seconds: float = 0.0


@dataclass(frozen=True)
class DecisionRule:
    """How STOP vs ASK is decided (saved under ``decision`` in ``learn2ask_policy.json``).

    ``stop_token_id``/``stop_token`` identify the stop tag's first token for this tokenizer;
    ``calibration`` records how ``threshold`` was chosen (split, sizes, criterion, figures).
    ``threshold`` is cut for balanced points, ``natural_threshold`` (when calibrated) for
    points of conversations in their natural course, ``sequential_threshold`` for a
    conversation walked in order to its first STOP; :meth:`for_mix` picks one.
    """

    rule: str = "threshold"
    threshold: float = 0.5
    stop_token_id: int | None = None
    stop_token: str | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    natural_threshold: float | None = None
    sequential_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(f"decision rule must be one of {', '.join(RULES)}, got '{self.rule}'")
        for value in (self.threshold, self.natural_threshold, self.sequential_threshold):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"decision threshold must be in [0, 1], got {value}")

    @staticmethod
    def mix_of(balanced: bool) -> str:
        """The cut that evaluation points call for: balanced ones, or a natural mix."""
        return "balanced" if balanced else "natural"

    def for_mix(self, mix: str) -> DecisionRule:
        """This rule with the threshold cut for ``mix`` (one of ``MIXES``). A rule calibrated
        before a cut existed falls back: sequential to natural, natural to its one threshold."""
        if mix not in MIXES:
            raise ConfigError(f"decision mix must be one of {', '.join(MIXES)}, got '{mix}'")
        if mix == "sequential" and self.sequential_threshold is not None:
            return replace(self, threshold=self.sequential_threshold)
        if mix in ("natural", "sequential") and self.natural_threshold is not None:
            return replace(self, threshold=self.natural_threshold)
        return self


def prompt_digest(messages: Messages) -> str:
    """A short stable key of one chat prompt (its messages as canonical JSON)."""
    text = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def save_decision_rule(model_dir: str | Path, rule: DecisionRule) -> None:
    """Add (or replace) the ``decision`` section of a model's ``learn2ask_policy.json``."""
    write_policy_section(model_dir, "decision", asdict(rule))


def load_decision_rule(model_dir: str | Path | None) -> DecisionRule | None:
    """The decision rule saved beside a model, or None (untrained models have none)."""
    section = read_policy_section(model_dir, "decision")
    return DecisionRule(**section) if section else None


def stop_token_of(tokenizer: Any, stop_tag: str) -> tuple[int, str]:
    """The id and text of the stop tag's first token under ``tokenizer``."""
    token_id = tokenizer(stop_tag, add_special_tokens=False)["input_ids"][0]
    return int(token_id), tokenizer.decode([token_id])


def action_from_reply(raw: str, stop_tag: str, p_stop: float | None = None) -> PolicyAction:
    """Read an action from a raw reply (the ``greedy``/``sample`` rules)."""
    parsed = parse_policy_response(raw, stop_tag)
    if parsed.assessment == "stop":
        return PolicyAction("stop", None, p_stop, raw)
    return PolicyAction("ask", parsed.question, p_stop, raw)


class DecidingPolicy(Protocol):
    """A policy that returns one action per conversation history."""

    name: str
    prompt_config: PolicyPromptConfig
    rule: DecisionRule

    def decide(
        self, contexts: Sequence[list[Turn]], may_stop: Sequence[bool] | None = None
    ) -> list[PolicyAction]:
        """One action per context (each a full history, user and expert turns), in order;
        where ``may_stop`` is False the action is a question whatever P(stop) says."""
        ...

    def stop_probabilities(self, contexts: Sequence[list[Turn]]) -> list[float]:
        """P(stop) per context, as the threshold rule uses it."""
        ...

    def share_embedder(self, embedder: Any) -> bool:
        """Embed with the caller's ``embedder`` where that changes nothing but the time."""
        ...


@dataclass
class _DecidingBase:
    """Shared logic: P(stop) -> threshold -> ask with the stop token banned."""

    name: str
    prompt_config: PolicyPromptConfig
    rule: DecisionRule
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    memory: Any = None  # a QuestionMemory, or None: generate every question
    stop_head: Any = None  # a StopHead fused with the LM's P(stop), or None: the LM alone
    # The LM's P(stop) by prompt digest: an evaluation scores a held-out point under more than
    # one cut (the demo's 200 natural-mix points are all among its 444 balanced ones), and a
    # forward pass is most of what a decision costs.
    p_stop_memo: dict[str, float] = field(default_factory=dict, repr=False)

    def share_embedder(self, embedder: Any) -> bool:
        """Embed with ``embedder`` (e.g. the evaluation's grader, whose references embed the
        same test contexts) in the question memory and the stop head, so a text both need is
        encoded once. Only when it is the grader version the memory was built with: its
        thresholds rank the memory's candidates. Returns whether it is shared."""
        if self.memory is None or getattr(embedder, "version", None) != self.memory.grader.version:
            return False
        self.memory.grader = embedder
        if self.stop_head is not None:
            self.stop_head.classifier.embedder = embedder
        return True

    def messages(self, contexts: Sequence[list[Turn]]) -> list[Messages]:
        """The policy prompt of each context."""
        return [build_policy_messages(c, self.prompt_config) for c in contexts]

    def decide(
        self, contexts: Sequence[list[Turn]], may_stop: Sequence[bool] | None = None
    ) -> list[PolicyAction]:
        """One action per context under ``rule`` (questions generated only where it asks).

        Where ``may_stop`` is False (the assistant's ``min_questions``) the policy asks: the
        threshold rule's question as usual, a decoding rule's reply decoded again with the stop
        tag's token banned. P(stop) is still reported."""
        started = time.perf_counter()
        messages = self.messages(contexts)
        allowed = list(may_stop) if may_stop is not None else [True] * len(contexts)
        if self.rule.rule != "threshold":
            config = self.generation
            if self.rule.rule == "greedy":
                config = replace(config, temperature=0.0)
            replies = list(self.generate(messages, config))
            stopped = [i for i, r in enumerate(replies) if not allowed[i] and self._stops(r)]
            if stopped:  # only then: an endpoint without a known stop token id cannot ban it
                banned = replace(config, suppress_token_ids=(self.stop_token_id(),))
                again = self.generate([messages[i] for i in stopped], banned)
                for i, reply in zip(stopped, again, strict=True):
                    replies[i] = reply
            actions = [action_from_reply(r, self.prompt_config.stop_tag) for r in replies]
        else:
            p_stop = self.assess(contexts, messages)
            ask = [i for i, p in enumerate(p_stop) if p < self.rule.threshold or not allowed[i]]
            asked = self.questions([contexts[i] for i in ask], [messages[i] for i in ask])
            questions = dict(zip(ask, asked, strict=True))
            actions = [
                PolicyAction("ask", questions[i], p, questions[i])
                if i in questions
                else PolicyAction("stop", None, p, self.prompt_config.stop_tag)
                for i, p in enumerate(p_stop)
            ]
        per_item = (time.perf_counter() - started) / max(1, len(contexts))
        return [replace(a, seconds=round(per_item, 4)) for a in actions]

    def _stops(self, reply: str) -> bool:
        return action_from_reply(reply, self.prompt_config.stop_tag).action == "stop"

    def questions(self, contexts: Sequence[list[Turn]], messages: list[Messages]) -> list[str]:
        """The question to ask in each context: from the question memory when the model has one
        (``models/question_memory.py``), else generated with the stop tag's token banned."""
        banned = replace(self.generation, suppress_token_ids=(self.stop_token_id(),))
        if self.memory is None or not contexts:
            return self.generate(messages, banned)
        generated = None
        if self.memory.settings.source == "memory+generated":
            generated = self.generate(messages, banned)
        chosen = self.memory.choose(contexts, generated)
        missing = [i for i, q in enumerate(chosen) if q is None]
        fallback = iter(self.generate([messages[i] for i in missing], banned) if missing else [])
        return [q if q is not None else next(fallback) for q in chosen]

    def stop_probabilities(self, contexts: Sequence[list[Turn]]) -> list[float]:
        """P(stop) per context, as the threshold rule uses it."""
        return self.assess(contexts, self.messages(contexts))

    def assess(self, contexts: Sequence[list[Turn]], messages: list[Messages]) -> list[float]:
        """The P(stop) the rule thresholds: the language model's, fused with the stop head's
        when the model has one (``models/stop_head.py``)."""
        p_lm = self.remembered_p_stop(messages)
        return p_lm if self.stop_head is None else self.stop_head.fuse(p_lm, contexts)

    def remembered_p_stop(self, messages: list[Messages]) -> list[float]:
        """The LM's P(stop) per prompt, each distinct prompt computed once by this policy
        (up to ``P_STOP_MEMO_LIMIT`` prompts; then the memo starts over)."""
        keys = [prompt_digest(m) for m in messages]
        memo = self.p_stop_memo  # one dict throughout, whatever another session does
        known = {k: memo[k] for k in keys if k in memo}
        todo = {k: m for k, m in zip(keys, messages, strict=True) if k not in known}
        fresh = dict(zip(todo, self.p_stop(list(todo.values())), strict=True)) if todo else {}
        self.remember_p_stop(fresh)
        return [known[k] if k in known else fresh[k] for k in keys]

    def remember_p_stop(self, fresh: dict[str, float]) -> None:
        """Add ``fresh`` (prompt digest -> the LM's P(stop)) to the memo, starting it over
        past ``P_STOP_MEMO_LIMIT`` prompts."""
        if len(self.p_stop_memo) + len(fresh) > P_STOP_MEMO_LIMIT:
            self.p_stop_memo = {}  # replaced, not cleared: a reader keeps the old one
        self.p_stop_memo.update(fresh)

    def stop_token_id(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def p_stop(self, messages: list[Messages]) -> list[float]:  # pragma: no cover
        raise NotImplementedError

    def generate(self, messages: list[Messages], config: GenerationConfig) -> list[str]:
        raise NotImplementedError  # pragma: no cover


@dataclass
class LocalDecidingPolicy(_DecidingBase):
    """A local model (bundled name, run or checkpoint directory)."""

    generator: Any = None

    def stop_token_id(self) -> int:
        """The stop tag's first token id (from the rule, else the tokenizer)."""
        if self.rule.stop_token_id is not None:
            return self.rule.stop_token_id
        return stop_token_of(self.generator.tokenizer, self.prompt_config.stop_tag)[0]

    def p_stop(self, messages: list[Messages]) -> list[float]:
        """One forward pass per prompt."""
        return self.generator.next_token_probs(messages, self.stop_token_id())

    def generate(self, messages: list[Messages], config: GenerationConfig) -> list[str]:
        """Batched local generation."""
        return self.generator.generate(messages, config) if messages else []

    def question_likelihoods(self, context: Sequence[Turn], questions: list[str]) -> list[float]:
        """log P(each question as the whole reply) to this policy's prompt for ``context``: the
        question memory's ``likelihood`` (one prompt pass for all of them)."""
        return self.generator.reply_logprobs(self.messages([list(context)])[0], questions)

    def assess(self, contexts: Sequence[list[Turn]], messages: list[Messages]) -> list[float]:
        """As :meth:`_DecidingBase.assess`; with the question memory's likelihood re-rank on,
        each new prompt's P(stop) and its candidates' likelihoods come from one pass (the
        re-rank would otherwise pass the prompt again for every context that asks)."""
        self._score_with_candidates(contexts, messages)
        return super().assess(contexts, messages)

    def _score_with_candidates(
        self, contexts: Sequence[list[Turn]], messages: list[Messages]
    ) -> None:
        memory = self.memory
        if memory is None or memory.likelihood != self.question_likelihoods:
            return
        keys = [prompt_digest(m) for m in messages]
        new = [i for i, key in enumerate(keys) if key not in self.p_stop_memo]
        texts = memory.rerank_texts([contexts[i] for i in new]) if new else []
        token = self.stop_token_id()
        fresh = {}
        for i, questions in zip(new, texts, strict=True):
            if questions:
                fresh[keys[i]], likelihoods = self.generator.next_token_and_replies(
                    messages[i], questions, token
                )
                memory.remember_likelihoods(contexts[i], questions, likelihoods)
        self.remember_p_stop(fresh)


@dataclass
class RemoteDecidingPolicy(_DecidingBase):
    """A model behind an OpenAI-compatible endpoint that returns ``top_logprobs``."""

    client_config: Any = None

    def stop_token_id(self) -> int:
        """The stop tag's first token id, which the model's saved rule must name."""
        if self.rule.stop_token_id is None:
            raise ConfigError(
                "the threshold rule through an endpoint needs the stop token id: pass the run "
                "directory as --model (its learn2ask_policy.json names it) or use --decision greedy"
            )
        return self.rule.stop_token_id

    def p_stop(self, messages: list[Messages]) -> list[float]:
        """P(stop) from the first generated token's ``top_logprobs``; when the stop token is not
        among them, a second request forces it with ``logit_bias`` and reads its logprob, which
        vLLM and ``serve-model`` report before the bias (the model's raw distribution)."""
        token = self.rule.stop_token
        token_id = self.stop_token_id()  # raises the clear error when the rule lacks it

        async def one(client: Any, prompt: Messages) -> float:
            extra = {"logprobs": True, "top_logprobs": TOP_LOGPROBS, "seed": 0}
            body = await client.completion(prompt, temperature=0.0, max_tokens=1, extra=extra)
            choices = body["choices"]
            found = stop_probability_from_logprobs(choices[0], token or "")
            if found is not None:
                return found
            forced = await client.completion(
                prompt,
                temperature=0.0,
                max_tokens=1,
                extra={**extra, "logit_bias": {str(token_id): 100}},
            )
            return forced_stop_probability(forced["choices"][0], token or "", choices[0])

        return self._run_all(one, messages)

    def generate(self, messages: list[Messages], config: GenerationConfig) -> list[str]:
        """One request per prompt; banned tokens travel as ``logit_bias`` -100."""
        extra: dict[str, Any] = {"top_p": config.top_p, "seed": config.seed}
        if config.suppress_token_ids:
            extra["logit_bias"] = {str(t): -100 for t in config.suppress_token_ids}
        if config.stop:
            extra["stop"] = list(config.stop)

        async def one(client: Any, prompt: Messages) -> str:
            texts = await client.complete(
                prompt,
                temperature=config.temperature,
                max_tokens=config.max_new_tokens,
                extra=extra,
            )
            return texts[0].strip()

        return self._run_all(one, messages) if messages else []

    def question_likelihoods(self, context: Sequence[Turn], questions: list[str]) -> list[float]:
        """log P(each question as the whole reply), as :class:`LocalDecidingPolicy` scores it,
        from vLLM's ``prompt_logprobs`` (``serve-model`` and vLLM return them): each question
        sent as a closed assistant turn after this policy's prompt, its tokens and the
        end-of-turn token summed. Two more requests measure where the reply starts (the prompt
        alone) and how many tokens close a turn (an empty one); a server with a prefix cache
        answers all of them for about one prompt pass."""
        if not questions:
            return []
        prompt = self.messages([list(context)])[0]
        closed = {"add_generation_prompt": False}
        requests = [
            (prompt, {}),
            ([*prompt, {"role": "assistant", "content": ""}], closed),
            *(
                ([*prompt, {"role": "assistant", "content": q}], {**closed, "prompt_logprobs": 0})
                for q in questions
            ),
        ]

        async def one(client: Any, request: tuple[Messages, dict[str, Any]]) -> dict[str, Any]:
            messages, extra = request
            return await client.completion(
                messages, temperature=0.0, max_tokens=1, extra={"seed": 0, **extra}
            )

        bare, empty, *scored = self._run_all(one, requests)
        start = prompt_token_count(bare)
        closing = prompt_token_count(empty) - start
        return [
            reply_logprob(body, start, closing, question)
            for body, question in zip(scored, questions, strict=True)
        ]

    def _run_all(self, job: Any, items: list[Any]) -> list[Any]:
        from learn2ask.models.client import ChatClient, LLMError

        async def run() -> list[Any]:
            async with ChatClient(self.client_config) as client:
                return list(await asyncio.gather(*(job(client, item) for item in items)))

        try:
            return asyncio.run(run())
        except LLMError as exc:
            raise EndpointError(
                f"{self.client_config.base_url}: policy endpoint failed: {exc}"
            ) from exc


def first_logprobs(choice: dict[str, Any]) -> dict[str, Any]:
    """The first generated token's logprob entry of an OpenAI choice."""
    try:
        return choice["logprobs"]["content"][0]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(
            "the endpoint returned no logprobs: the threshold decision needs an OpenAI-compatible "
            "server that honours logprobs/top_logprobs (serve-model, vLLM)"
        ) from None


def prompt_token_count(body: dict[str, Any]) -> int:
    """``usage.prompt_tokens`` of a chat completion."""
    try:
        return int(body["usage"]["prompt_tokens"])
    except (KeyError, TypeError, ValueError):
        raise EndpointError("the endpoint reports no usage.prompt_tokens") from None


def reply_logprob(body: dict[str, Any], start: int, closing: int, reply: str) -> float:
    """The summed logprob of a closed assistant turn's content, ``reply``, and its first
    closing token (end of turn), read from vLLM's ``prompt_logprobs`` of ``body``: positions
    ``start`` (where the reply begins) to the last ``closing`` tokens' first. Where the
    endpoint decodes its tokens, they must read as ``reply``: a chat template that does not
    close a turn the way its generation prompt opens one would put the sum elsewhere."""
    entries = body.get("prompt_logprobs")
    if not isinstance(entries, list) or len(entries) != prompt_token_count(body):
        raise EndpointError(
            "the endpoint returned no prompt_logprobs: the question memory's likelihood re-rank "
            "through an endpoint needs vLLM or serve-model (or --likelihood-weight 0)"
        )
    span = entries[start : len(entries) - closing + 1]
    if not span or not all(isinstance(e, dict) and len(e) == 1 for e in span):
        raise EndpointError(
            "the endpoint's prompt_logprobs do not hold one token a position where the reply is"
        )
    tokens = [next(iter(entry.values())) for entry in span]
    read = "".join(str(t.get("decoded_token", "")) for t in tokens[:-1])
    # Only what the endpoint decodes, and whole characters (a byte-level piece of a character
    # decodes alone as U+FFFD); spaces aside (a SentencePiece token decoded alone loses its own).
    decoded = all("decoded_token" in t for t in tokens) and "\ufffd" not in read
    if decoded and "".join(read.split()) != "".join(reply.split()):
        raise EndpointError(
            f"the endpoint's prompt_logprobs read {read!r} where the reply {reply!r} should "
            "be: its chat template does not close a turn the way its generation prompt "
            "opens one"
        )
    return sum(float(t["logprob"]) for t in tokens)


def stop_probability_from_logprobs(choice: dict[str, Any], stop_token: str) -> float | None:
    """P(first token == ``stop_token``) from ``top_logprobs``, or None when it is not listed."""
    first = first_logprobs(choice)
    for candidate in [first, *first.get("top_logprobs", [])]:
        if candidate.get("token") == stop_token:
            return math.exp(float(candidate["logprob"]))
    return None


def forced_stop_probability(
    forced: dict[str, Any], stop_token: str, unforced: dict[str, Any]
) -> float:
    """P(stop) read from a reply whose first token was forced to the stop token by
    ``logit_bias``. A server that reports logprobs after the bias would claim a probability above
    the listed top tokens', which contradicts the unforced reply: that is an error, not a guess."""
    first = first_logprobs(forced)
    if first.get("token") != stop_token:
        raise EndpointError("the endpoint ignored logit_bias: cannot read P(stop) through it")
    probability = math.exp(float(first["logprob"]))
    listed = [math.exp(float(c["logprob"])) for c in first_logprobs(unforced)["top_logprobs"]]
    if listed and probability > min(listed) + 1e-6:
        raise EndpointError(
            "the endpoint reports logprobs after logit_bias; the threshold decision needs the "
            "model's raw logprobs (vLLM's default, serve-model)"
        )
    return probability


def default_rule(model_dir: Path | None, tokenizer: Any, stop_tag: str) -> DecisionRule:
    """The model's saved rule; untrained models decide by parsing a greedy reply."""
    saved = load_decision_rule(model_dir)
    if saved is not None:
        return saved
    token_id, token = stop_token_of(tokenizer, stop_tag) if tokenizer else (None, None)
    return DecisionRule(rule="greedy", stop_token_id=token_id, stop_token=token)


def load_deciding_policy(
    model: str,
    base_url: str | None = None,
    rule: str | None = None,
    threshold: float | None = None,
    generation: GenerationConfig | None = None,
    device: str = "auto",
    prompt: PolicyPromptConfig | None = None,
    questions: str | None = None,
    mix: str = "balanced",
    assessment: str = "saved",
    anchor_weight: float | None = None,
    likelihood_weight: float | None = None,
) -> DecidingPolicy:
    """The policy every consumer uses: a local run/bundled name, or a model at an endpoint.

    ``rule``/``threshold`` override the saved decision rule (e.g. ``greedy`` for comparison);
    ``mix`` picks the saved threshold's cut (``balanced`` points, points of the ``natural``
    course of conversations, or a ``sequential`` walk, see :class:`DecisionRule`); a given
    ``threshold`` replaces them all.
    ``questions`` overrides where the threshold rule's questions come from: ``generate``, or a
    source of the model's question memory (``memory``, ``memory+generated``).
    ``assessment``: ``saved`` thresholds the P(stop) the model was calibrated with (fused with
    its stop head when it has one), ``lm`` the language model's own P(stop) alone (for
    comparison: the saved threshold was cut for the fused one).
    ``anchor_weight`` overrides the question memory's (how much the user's first message
    weighs in its similarity key), ``likelihood_weight`` its re-rank of the best-voted
    questions by the policy's own likelihood (through an endpoint, from its
    ``prompt_logprobs``).
    A local run directory named as ``model`` also gives an endpoint policy its prompt, rule,
    question memory and stop head.
    """
    from learn2ask.models.backends import resolve_local_model_dir
    from learn2ask.models.policy import load_prompt_config

    generation = generation or GenerationConfig()
    local_dir = resolve_local_model_dir(model)
    prompt = prompt or load_prompt_config(local_dir)
    if base_url:
        from learn2ask.models.client import ClientConfig

        saved = load_decision_rule(local_dir) or DecisionRule(rule="greedy")
        policy: _DecidingBase = RemoteDecidingPolicy(
            name=model,
            prompt_config=prompt,
            rule=saved,
            generation=generation,
            client_config=ClientConfig(base_url=base_url, model=model),
        )
    else:
        from learn2ask.models.generation import LocalGenerator
        from learn2ask.models.registry import resolve_model

        generator = LocalGenerator.from_pretrained(resolve_model(local_dir or model), device=device)
        policy = LocalDecidingPolicy(
            name=model,
            prompt_config=prompt,
            rule=default_rule(local_dir, generator.tokenizer, prompt.stop_tag),
            generation=generation,
            generator=generator,
        )
    policy.rule = policy.rule.for_mix(mix)
    if rule is not None or threshold is not None:
        policy.rule = replace(
            policy.rule,
            rule=rule or policy.rule.rule,
            threshold=policy.rule.threshold if threshold is None else threshold,
            natural_threshold=policy.rule.natural_threshold if threshold is None else None,
            sequential_threshold=policy.rule.sequential_threshold if threshold is None else None,
        )
    if policy.rule.rule == "threshold" and questions != "generate":
        policy.memory = load_question_memory(local_dir, questions, anchor_weight, likelihood_weight)
        if policy.memory is not None:
            policy.memory.likelihood = policy.question_likelihoods
    if assessment not in ASSESSMENTS:
        raise ConfigError(f"assessment must be one of {', '.join(ASSESSMENTS)}, got '{assessment}'")
    if assessment == "saved":
        from learn2ask.models.stop_head import StopHead

        embedder = policy.memory.grader if policy.memory is not None else None
        policy.stop_head = StopHead.load(local_dir, embedder)
    return policy


def load_question_memory(
    model_dir: Path | None,
    source: str | None,
    anchor_weight: float | None = None,
    likelihood_weight: float | None = None,
) -> Any:
    """The model's question memory with ``source``, ``anchor_weight`` and
    ``likelihood_weight`` applied (None: the model has none)."""
    from learn2ask.models.question_memory import QuestionMemory

    memory = QuestionMemory.load(model_dir)
    if memory is None:
        if source is not None:
            raise ConfigError(f"--questions {source}: the model has no question memory")
        if anchor_weight is not None:
            raise ConfigError("--anchor-weight: the model has no question memory")
        if likelihood_weight is not None:
            raise ConfigError("--likelihood-weight: the model has no question memory")
        return None
    if source is not None:
        memory.settings = replace(memory.settings, source=source)
    if anchor_weight is not None:
        memory.settings = replace(memory.settings, anchor_weight=anchor_weight)
        memory.search_keys()  # a memory saved without anchors says so now, not mid-request
    if likelihood_weight is not None:
        memory.settings = replace(memory.settings, likelihood_weight=likelihood_weight)
    return memory


def load_run_memory(
    policy: str, anchor_weight: float | None = None, likelihood_weight: float | None = None
) -> Any:
    """The question memory of the run or model ``policy`` on this machine, with the weights
    given (None: the run's own); with a likelihood weight above 0 it is scored by the run's own
    language model, loaded as ``evaluate`` loads it, else no model is loaded (``learn2ask
    probe --explain``, ``learn2ask question-relevance``). A ``ConfigError`` when there is
    none."""
    from learn2ask.models.registry import resolve_local_model_dir

    model_dir = resolve_local_model_dir(policy)
    try:
        if model_dir is None:
            memory = None
        elif likelihood_weight:
            memory = load_deciding_policy(
                policy,
                device="cpu",
                assessment="lm",  # the memory is wanted, not the stop head
                anchor_weight=anchor_weight,
                likelihood_weight=likelihood_weight,
            ).memory
        else:
            memory = load_question_memory(model_dir, None, anchor_weight, likelihood_weight)
    except ConfigError as exc:
        raise ConfigError(f"{policy}: {exc}") from None
    if memory is None:
        raise ConfigError(f"{policy}: needs a run with a question memory on this machine")
    return memory
