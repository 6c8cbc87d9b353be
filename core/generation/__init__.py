"""Synthetic pairs (docs/ARCHITECTURE.md, "The pipeline"): the run (`pipeline`: plan → write →
filter → store) and its settings (`settings`), query kinds (`kinds`, registered in
`kind_registry`: the kind objects and the context each needs), question writers (`writer`: the
contract; `provider_registry`: the providers; `providers`: the OpenAI-compatible and local
writers and the one `openai_client`), prompts, pseudo-queries, filters, embeddings and splits.

Importing the package registers the built-in kinds and providers, so their registries are full
whichever module of the package a caller imports first.
"""

from core.generation import kinds, providers  # noqa: F401  registers the built-in kinds, providers
