"""Training, evaluation and demo recipes over the losatok_plugin library (a package so that ``python -m
recipes.data.build_corpus`` runs and tests import ``recipes.data`` without path tricks)."""
