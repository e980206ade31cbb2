"""The pre-1.0 way to resume a run: `neptune.init(project=..., api_token=..., run="KEY-N")`.

Adds a test score and two more points to the loss curve of the run `legacy_new_api.py` logged. Only the
import line differs.
"""

from despina.compat.neptune import new as neptune  # was: import neptune.new as neptune

run = neptune.init(project="team/legacy", api_token="ANONYMOUS", run="LEG-1")

previous = run["train/loss"].fetch_last()
print(f"Resumed {run['sys/id'].fetch()} with loss {previous:.4f}")

run["eval/test_accuracy"] = 0.93
for factor in (0.9, 0.8):
    run["train/loss"].log(previous * factor)

run.stop()
