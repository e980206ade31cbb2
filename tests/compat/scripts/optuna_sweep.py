"""Hyperparameter search with Optuna, logged with Neptune's Optuna callback.

Neptune docs, "Optuna integration": one run for the study, `NeptuneCallback(run)` in
`study.optimize`, then `load_study_from_run` to continue from what the run stored. Only the import
lines differ.
"""

import optuna
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import despina.compat.neptune as neptune  # was: import neptune
import despina.compat.neptune.integrations.optuna as optuna_utils  # was: import neptune.integrations.optuna

X, y = load_wine(return_X_y=True)
X_train, X_valid, y_train, y_valid = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def objective(trial):
    param = {
        "n_estimators": trial.suggest_int("n_estimators", 2, 20),
        "max_depth": trial.suggest_int("max_depth", 1, 6),
        "criterion": trial.suggest_categorical("criterion", ["gini", "entropy"]),
    }
    model = RandomForestClassifier(**param, random_state=0)
    model.fit(X_train, y_train)
    return model.score(X_valid, y_valid)


run = neptune.init_run(tags=["optuna", "random-forest"])

neptune_callback = optuna_utils.NeptuneCallback(
    run,
    plots_update_freq="never",
    log_plot_slice=False,
    log_plot_contour=False,
)

study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(objective, n_trials=8, callbacks=[neptune_callback])

print(f"Best value: {study.best_value}")

# Continue the study later from what the run stored
restored = optuna_utils.load_study_from_run(run)
print(f"Restored {len(restored.trials)} trials")

run.stop()
