"""Synthetic pairs (DESIGN.md section 5): the run (`pipeline`: plan → write → filter → store),
query kinds (`kinds`: the registry of kind objects and the context each needs), question writers
(`provider_registry`: the providers; `providers`: the OpenAI-compatible and local writers and the
one `openai_client`), prompts, pseudo-queries, filters, embeddings and splits."""
