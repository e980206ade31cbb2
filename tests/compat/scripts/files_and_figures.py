"""Files and figures, as in Neptune's docs ("Upload files", "Log images and charts").

A confusion matrix as a matplotlib figure, the same figure as an image and as an HTML page, a pandas
table as HTML, a CSV and a config folder, a pickled object, an image series of digits and an
interactive plotly chart. Only the import lines differ.
"""

import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.express as px
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

import despina.compat.neptune as neptune  # was: import neptune
from despina.compat.neptune.types import File  # was: from neptune.types import File

run = neptune.init_run(name="figures-and-files", tags=["files"])

digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.data, digits.target, test_size=0.3, random_state=0, stratify=digits.target
)
model = GaussianNB().fit(X_train, y_train)
y_pred = model.predict(X_test)

# A matplotlib figure: upload() stores it as a PNG image
fig, ax = plt.subplots(figsize=(6, 6))
ConfusionMatrixDisplay.from_predictions(y_test, y_pred, ax=ax, colorbar=False)
run["plots/cm"].upload(fig)
run["plots/cm_image"].upload(File.as_image(fig))
run["plots/cm_html"].upload(File.as_html(fig))
run["plots/cm_assigned"] = fig  # assigning a figure uploads it too
plt.close(fig)

# A pandas DataFrame as an interactive HTML table, and as a CSV file
predictions = pd.DataFrame({"true": y_test, "predicted": y_pred})
run["data/predictions"].upload(File.as_html(predictions))
predictions.to_csv("predictions.csv", index=False)
run["data/predictions_csv"].upload("predictions.csv")

# A folder of config files as a file set
os.makedirs("configs", exist_ok=True)
for name, value in {"model": {"var_smoothing": 1e-9}, "data": {"test_size": 0.3}}.items():
    with open(f"configs/{name}.json", "w") as f:
        json.dump(value, f)
run["configs"].upload_files("configs/*.json")

# Any Python object, pickled; a text note from a string
run["model/pickled"].upload(File.as_pickle(model))
run["notes"].upload(File.from_content("Gaussian naive Bayes, default priors", extension="txt"))

# An image series: a few misclassified digits, one image per step
wrong = np.flatnonzero(y_pred != y_test)[:4]
for i in wrong:
    image = X_test[i].reshape(8, 8) / 16.0
    run["images/misclassified"].append(
        File.as_image(image), name=f"true {y_test[i]}", description=f"predicted {y_pred[i]}"
    )

# An interactive plotly chart
chart = px.histogram(predictions, x="predicted", title="Predicted classes")
run["plots/predicted_histogram"].upload(chart, include_plotlyjs="cdn")

run.stop()
