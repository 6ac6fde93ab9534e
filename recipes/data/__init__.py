"""The offline corpus builder: run as ``python -m recipes.data.build_corpus`` from the repository root."""
