"""One step of a pipeline whose steps log to one shared run, identified by NEPTUNE_CUSTOM_RUN_ID.

Neptune docs, "Log from multiple processes / pipelines": the orchestrator sets NEPTUNE_CUSTOM_RUN_ID
(and NEPTUNE_MODE) for every step, and each step calls `init_run()` with no arguments. Only the import
line differs.
"""

import sys

import despina.compat.neptune as neptune  # was: import neptune

step = sys.argv[1]

run = neptune.init_run(capture_hardware_metrics=False)
run[f"pipeline/{step}/done"] = True
run["pipeline/steps"].append(step)
if step == "train":
    run["pipeline/train/accuracy"] = 0.87
run.stop()
