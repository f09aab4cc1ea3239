"""Models: bundled policy model, local generation, OpenAI-compatible client and server."""
