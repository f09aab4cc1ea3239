"""Assemble the running assistant: domain + policy + store -> service -> app, and the purger."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Any

from learn2ask.errors import ConfigError
from learn2ask.serving.config import ServerConfig, ServingSettings, serving_settings
from learn2ask.serving.service import IntakeService, PolicyBatcher
from learn2ask.serving.store import SessionStore, open_store

log = logging.getLogger("learn2ask.serving")


@dataclass
class Assistant:
    """Everything one server process holds: the service, the app and the purger's stop flag."""

    service: IntakeService
    app: Any
    stop_purger: threading.Event

    def shutdown(self) -> None:
        """Stop the purger and the policy thread."""
        self.stop_purger.set()
        self.service.batcher.close()


def load_settings(domain_name: str) -> tuple[Any, ServingSettings]:
    """The domain and its validated ``serving`` section."""
    from learn2ask.domain import domain_path, load_domain

    domain = load_domain(domain_name)
    return domain, serving_settings(domain.serving, str(domain_path(domain_name)))


def default_domain(policy: str, policy_model: str | None) -> str:
    """The domain to serve with when ``--domain`` is not given: the bundled domain the policy's
    run was trained on (its saved prompt names it; for an endpoint, ``policy_model``'s), else
    medical. A domain from your own file is not guessed: its run asks for ``--domain FILE``."""
    from learn2ask.domain import DEFAULT_DOMAIN, bundled_domain_names
    from learn2ask.models.backends import resolve_local_model_dir
    from learn2ask.models.policy import POLICY_CONFIG_FILE, load_prompt_config

    name = policy_model if policy.startswith(("http://", "https://")) else policy
    local = resolve_local_model_dir(name) if name else None
    if local is None or not (local / POLICY_CONFIG_FILE).is_file():
        return DEFAULT_DOMAIN
    trained = load_prompt_config(local).domain
    return trained if trained in bundled_domain_names() else DEFAULT_DOMAIN


def load_policy(
    policy: str,
    policy_model: str | None,
    domain: Any,
    rule: str | None = None,
    threshold: float | None = None,
    questions: str | None = None,
    anchor_weight: float | None = None,
    likelihood_weight: float | None = None,
) -> Any:
    """The deciding policy, loaded once: a run dir / bundled name, or an endpoint URL
    (``anchor_weight`` and ``likelihood_weight`` override its question memory's, as
    ``evaluate --anchor-weight`` and ``--likelihood-weight``)."""
    from learn2ask.models.backends import resolve_local_model_dir
    from learn2ask.models.decision import load_deciding_policy
    from learn2ask.models.policy import POLICY_CONFIG_FILE, PolicyPromptConfig, load_prompt_config

    if policy.startswith(("http://", "https://")):
        if not policy_model:
            raise ConfigError("--policy URL needs --policy-model NAME (the model at the endpoint)")
        name, base_url = policy_model, policy
    else:
        name, base_url = policy, None
    prompt = _prompt_for(
        resolve_local_model_dir(name), domain, POLICY_CONFIG_FILE, load_prompt_config
    )
    if prompt is None and base_url is None:  # an untrained local model: the domain's prompt
        prompt = PolicyPromptConfig.from_domain(domain)
    # A live conversation ends at the policy's first STOP: the cut for a walk in order.
    return load_deciding_policy(
        name,
        base_url=base_url,
        rule=rule,
        threshold=threshold,
        prompt=prompt,
        questions=questions,
        mix="sequential",
        anchor_weight=anchor_weight,
        likelihood_weight=likelihood_weight,
    )


def apply_domain_memory(
    policy: Any, anchor_weight: float | None, likelihood_weight: float | None
) -> None:
    """Give the policy's question memory the domain's ``serving.anchor_weight`` and
    ``serving.likelihood_weight`` (None: keep the run's). A memory saved before anchors were
    kept is served with its own anchor weight, and the log says so: the domain's default must
    not stop an older run from being served (``--anchor-weight`` asks for it strictly)."""
    memory = getattr(policy, "memory", None)
    if memory is None:
        return
    if likelihood_weight is not None:
        memory.settings = replace(memory.settings, likelihood_weight=likelihood_weight)
    if anchor_weight is None:
        return
    if memory.anchors is None:
        log.warning(
            "the domain's serving.anchor_weight %s is not applied: this run's question memory "
            "predates anchors (train it again to use it)",
            anchor_weight,
        )
        return
    memory.settings = replace(memory.settings, anchor_weight=anchor_weight)


def describe_memory(memory: Any) -> str:
    """The start-up log's words for how the question memory chooses."""
    settings = memory.settings
    return (
        f"anchor weight {settings.anchor_weight:g}, "
        f"likelihood weight {settings.likelihood_weight:g}"
    )


def _prompt_for(local: Any, domain: Any, config_file: str, load: Any) -> Any:
    """The prompt a trained model carries (checked against ``--domain``), else None."""
    if local is None or not (local / config_file).is_file():
        return None
    prompt = load(local)
    if prompt.domain != domain.name:
        from learn2ask.domain import bundled_domain_names

        bundled = prompt.domain in bundled_domain_names()
        remedy = f"--domain {prompt.domain}" if bundled else "its domain file as --domain FILE"
        raise ConfigError(
            f"--policy {local} was trained on domain '{prompt.domain}', not '{domain.name}': "
            f"pass {remedy}"
        )
    return prompt


def build_assistant(
    config: ServerConfig,
    policy: Any,
    settings: ServingSettings,
    expert: str,
    store: SessionStore | None = None,
) -> Assistant:
    """The service and app over ``store`` (opened from ``config.db`` when None); starts the
    retention purger."""
    from learn2ask.serving.app import create_app
    from learn2ask.serving.metrics import ServingMetrics

    store = store or open_store(config.db)
    metrics = ServingMetrics()
    batcher = PolicyBatcher(policy, wait_s=config.batch_wait_s, observe=metrics.policy_pass)
    service = IntakeService(store, batcher, settings, config, expert=expert)
    stop = threading.Event()
    thread = threading.Thread(
        target=_purge_loop, args=(service, config.purge_interval_s, stop), daemon=True
    )
    thread.start()
    return Assistant(service, create_app(service, config, metrics), stop)


def _purge_loop(service: IntakeService, interval: float, stop: threading.Event) -> None:
    while True:
        try:
            service.purge_expired()
        except Exception as exc:  # noqa: BLE001 - the purger must outlive a store hiccup
            log.warning("retention purge failed: %s", exc)
        if stop.wait(interval):
            return
