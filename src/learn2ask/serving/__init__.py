"""learn2ask.serving: the deployed intake assistant (``learn2ask serve``, ``export-sessions``).

Sessions API, chat page and operator view over a policy; red flags before the policy; SQLite or
PostgreSQL storage that commits every message before replying. See docs/serving.md.
"""
