"""The runtime guard: an OpenAI-compatible proxy in front of and behind any model.

- ``policy``: the policy YAML a compliance reviewer reads (which constitution,
  what each principle's requests get: block, allow, disclaim, flag);
- ``rails``: the input rail (the constitution's decision classifier and
  pattern rules) and the output rail (the exchange checked against the same
  constitution);
- ``upstream``: the model behind the guard (an endpoint or a local model);
- ``service``: one request through the rails, fail-closed, audited;
- ``audit``: the hash-chained audit log in SQLite or PostgreSQL (SQLAlchemy,
  Alembic migrations), with retention, verification and export;
- ``server``: the FastAPI app (keys, rate limits, size limits, metrics);
- ``check``: each rail's precision and recall on held-out labeled data.
"""
