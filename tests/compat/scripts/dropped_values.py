"""A script that logs values Neptune 1.x silently skipped: a None parameter, a list, a NaN loss.

Written as many scripts were (and as nothing warned about with Neptune). With the compatibility layer
the same values are skipped, and a warning names each field and how to keep its value. Only the import
line differs.
"""

import argparse

import despina.compat.neptune as neptune  # was: import neptune

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--scheduler", default=None)
parser.add_argument("--layers", type=int, nargs="+", default=[128, 64])
args = parser.parse_args([])

run = neptune.init_run(name="dropped-values")
run["parameters"] = args  # an argparse.Namespace, as a dict
run["parameters/momentum"] = 0.9

losses = [0.9, float("nan"), 0.5, float("nan"), 0.3]
for loss in losses:
    run["train/loss"].append(loss)

run["eval/best_score"] = float("inf")
run["eval/num_parameters"] = 3_000_000_000

run.stop()
