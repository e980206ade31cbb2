"""Fetch a project's runs table into pandas, filtered by owner, and pick the best run.

Neptune docs, "Fetch runs table": `init_project` in read-only mode, `fetch_runs_table` with filters
and columns, then pandas. Only the import line differs.
"""

import despina.compat.neptune as neptune  # was: import neptune

project = neptune.init_project(mode="read-only")  # the project comes from NEPTUNE_PROJECT

runs_table_df = project.fetch_runs_table(
    owner="sophia",
    state="inactive",
    columns=["sys/owner", "sys/state", "parameters/lr", "f1_score"],
).to_pandas()

runs_table_df = runs_table_df.sort_values(by="f1_score", ascending=False)
print(f"{len(runs_table_df)} finished runs of sophia")
best_run_id = runs_table_df["sys/id"].values[0]
print(f"Best run: {best_run_id}")
runs_table_df.to_csv("sophia_runs.csv", index=False)

tagged = project.fetch_runs_table(tag=["baseline"]).to_pandas()
print(f"baseline runs: {','.join(sorted(tagged['sys/id']))}")

project.stop()
