"""`neptune.integrations`: the integrations Despina offers under Neptune's names (`optuna`)."""
