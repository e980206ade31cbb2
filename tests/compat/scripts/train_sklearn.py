"""Neptune quickstart, scikit-learn flavour: parameters, metrics per epoch, the F1 score, the model.

Written as in Neptune's docs ("Track your first run"); the project and API token come from the
NEPTUNE_PROJECT and NEPTUNE_API_TOKEN environment variables. Only the import line differs.
"""

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import train_test_split

import despina.compat.neptune as neptune  # was: import neptune

run = neptune.init_run(
    name="digits-sgd",
    description="SGD classifier on the digits data set",
    tags=["quickstart", "sklearn"],
)

params = {
    "learning_rate": 0.01,
    "alpha": 0.0001,
    "epochs": 8,
    "optimizer": "SGD",
    "loss": "log_loss",
    "shuffle": True,
}
run["parameters"] = params

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
classes = np.unique(y)

model = SGDClassifier(
    loss=params["loss"],
    alpha=params["alpha"],
    learning_rate="constant",
    eta0=params["learning_rate"],
    shuffle=params["shuffle"],
    random_state=0,
)

for epoch in range(params["epochs"]):
    model.partial_fit(X_train, y_train, classes=classes)
    run["train/loss"].append(log_loss(y_train, model.predict_proba(X_train), labels=classes))
    run["train/accuracy"].append(accuracy_score(y_train, model.predict(X_train)))
    run["valid/accuracy"].append(accuracy_score(y_test, model.predict(X_test)), step=epoch)

y_pred = model.predict(X_test)
run["eval/accuracy"] = accuracy_score(y_test, y_pred)
run["eval/f1_score"] = f1_score(y_test, y_pred, average="macro")

joblib.dump(model, "model.pkl")
run["model/weights"].upload("model.pkl")

run.stop()
