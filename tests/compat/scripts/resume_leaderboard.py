"""Resume a finished run by its id to add a leaderboard score, after downloading its weights.

Neptune docs, "Resume a run": reopen the run with `with_id`, fetch what it logged, add new metadata.
Only the import line differs.
"""

import joblib
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import despina.compat.neptune as neptune  # was: import neptune

run = neptune.init_run(with_id="CAS-1")

run["model/weights"].download("downloaded_model.pkl")
model = joblib.load("downloaded_model.pkl")

X, y = load_digits(return_X_y=True)
X = X / 16.0
_, X_test, _, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)

learning_rate = run["parameters/learning_rate"].fetch()
print(f"Evaluating the model trained with learning_rate={learning_rate}")

run["leaderboard/score"] = model.score(X_test, y_test)
run["leaderboard/evaluated_by"] = "resume_leaderboard.py"
run["sys/tags"].add("leaderboard")

run.stop()
