"""The pre-1.0 API: `import neptune.new as neptune` and `neptune.init(...)`, metrics with `.log()`.

As in Neptune's docs and blog posts from 2021-2022. Only the import lines differ.
"""

from despina.compat.neptune import new as neptune  # was: import neptune.new as neptune
from despina.compat.neptune.new.types import File  # was: from neptune.new.types import File

run = neptune.init(
    project="team/legacy",
    api_token=neptune.ANONYMOUS_API_TOKEN,
    name="legacy-api",
    tags=["neptune.new"],
)

PARAMS = {"batch_size": 32, "dropout": 0.25, "lr": 0.005, "epochs": 5}
run["parameters"] = PARAMS

loss = 1.0
for epoch in range(PARAMS["epochs"]):
    loss *= 0.7
    run["train/loss"].log(loss)
    run["train/epoch"].log(epoch, step=epoch)

run["train/notes"].log(["warm-up done", "lr decayed"])
run["artifacts/readme"].upload(File.from_content("# legacy run\n", extension="md"))

run.stop()
