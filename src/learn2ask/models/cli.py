"""``learn2ask serve-model``: an OpenAI-compatible server for any local model."""

from __future__ import annotations

import argparse

from learn2ask.commands import Command


def add_serve_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask serve-model``."""
    parser.add_argument(
        "model", help="bundled name (smollm2-135m-instruct), local checkpoint directory, or hub id"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument(
        "--served-name", default=None, help="model name clients send (default: the MODEL argument)"
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--dtype", default=None, help="float32 / bfloat16 (default by device)")
    parser.add_argument(
        "--max-batch-size", type=int, default=16, help="most concurrent requests generated together"
    )
    parser.add_argument(
        "--batch-window-ms",
        type=float,
        default=20.0,
        help="how long a batch waits for more requests after the first arrives",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=4 * 1024 * 1024, help="largest request body (413)"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=300.0, help="seconds one request may take (408)"
    )


def run_serve_model(args: argparse.Namespace) -> int:
    """Load the model and serve until interrupted."""
    import uvicorn

    from learn2ask.models.generation import LocalGenerator
    from learn2ask.models.server import ServerLimits, create_app

    generator = LocalGenerator.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    limits = ServerLimits(
        max_body_bytes=args.max_body_bytes, request_timeout_s=args.request_timeout
    )
    app = create_app(
        generator,
        args.served_name or args.model,
        args.max_batch_size,
        limits=limits,
        batch_window_s=args.batch_window_ms / 1000,
    )
    print(
        f"serving {args.served_name or args.model} on http://{args.host}:{args.port}/v1", flush=True
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


COMMANDS = [
    Command(
        name="serve-model",
        help="serve a local model behind an OpenAI-compatible /v1/chat/completions API",
        add_arguments=add_serve_model_arguments,
        run=run_serve_model,
    )
]
