"""JSON / JSON-schema constrained decoding for ``serve-model`` with llguidance.

One :class:`GrammarCompiler` per served tokenizer (building llguidance's tokenizer takes about a
second, so it is done once); one :class:`Constraint` per generated choice. Each decoding step the
constraint masks the logits row of its own sequence, so constrained and free rows share a batch.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from learn2ask.models.serve_protocol import ResponseFormat, ServeError

ANY_JSON_OBJECT: dict[str, Any] = {"type": "object"}


class Constraint:
    """The grammar state of one sequence: which tokens may come next, and whether it is done."""

    def __init__(self, matcher: Any, vocab_size: int) -> None:
        self._matcher = matcher
        self._vocab_size = vocab_size

    def allowed(self) -> torch.Tensor:
        """A boolean mask over the vocabulary of the tokens the grammar allows next."""
        raw = torch.frombuffer(bytearray(self._matcher.compute_bitmask()), dtype=torch.int32)
        shifts = torch.arange(32, dtype=torch.int32)
        bits = (raw.unsqueeze(-1) >> shifts) & 1
        return bits.reshape(-1)[: self._vocab_size].bool()

    def apply(self, logits: torch.Tensor) -> None:
        """Set the disallowed tokens of a 1-D logits row to ``-inf`` in place."""
        allowed = self.allowed()
        width = min(allowed.numel(), logits.numel())
        logits[:width].masked_fill_(~allowed[:width], float("-inf"))
        logits[width:] = float("-inf")

    def advance(self, token_id: int) -> None:
        """Consume the sampled token (it was allowed, so this keeps the grammar valid)."""
        self._matcher.consume_token(token_id)

    def finished(self) -> bool:
        """True once the grammar is complete (only end-of-sequence may follow)."""
        return bool(self._matcher.is_stopped())

    def error(self) -> str:
        """The matcher's error, empty when none."""
        return self._matcher.get_error() if self._matcher.is_error() else ""


class GrammarCompiler:
    """Turns ``response_format`` into :class:`Constraint` objects for one tokenizer."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        import llguidance.hf

        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer)
        self._vocab_size = vocab_size
        self._grammars: dict[str, str] = {}

    def grammar(self, response_format: ResponseFormat) -> str | None:
        """The llguidance grammar for a format (``None`` for free text); 400 when invalid."""
        if response_format.type == "text":
            return None
        schema = ANY_JSON_OBJECT
        if response_format.type == "json_schema":
            spec = response_format.json_schema or {}
            schema = spec.get("schema") or ANY_JSON_OBJECT
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = self._compile(schema)
        return self._grammars[key]

    def constraint(self, grammar: str) -> Constraint:
        """A fresh matcher state for one sequence."""
        import llguidance

        matcher = llguidance.LLMatcher(self._tokenizer, grammar, log_level=0)
        if matcher.is_error():
            problem = matcher.get_error()
            raise ServeError(400, f"response_format: {problem}", param="response_format")
        return Constraint(matcher, self._vocab_size)

    def _compile(self, schema: dict[str, Any]) -> str:
        import llguidance

        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(
                schema, defaults={"whitespace_flexible": False}
            )
        except ValueError as exc:
            raise ServeError(400, f"response_format: {exc}", param="response_format") from exc
        problem = llguidance.LLMatcher.validate_grammar(grammar, self._tokenizer)
        if problem and not problem.startswith("WARNING"):
            raise ServeError(400, f"response_format: {problem}", param="response_format")
        return grammar
