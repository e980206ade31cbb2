"""`neptune.integrations.optuna`: neptune-optuna's `NeptuneCallback`, `log_study_metadata` and
`load_study_from_run`, on Despina's Optuna integration.

    import despina.compat.neptune.integrations.optuna as optuna_utils   # was: neptune.integrations.optuna

    run = neptune.init_run()
    study.optimize(objective, n_trials=20, callbacks=[optuna_utils.NeptuneCallback(run)])

The fields are neptune-optuna's layout (see `despina.integrations.optuna` for where Despina logs more
than neptune-optuna did, e.g. every direction of a multi-objective study).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from despina import __version__ as _despina_version
from despina.client.handler import Handler
from despina.client.run import Run
from despina.integrations.optuna import DespinaCallback, Frequency, load_study_from_run, log_study_metadata

__all__ = ["NEPTUNE_INTEGRATION_VERSION_KEY", "NeptuneCallback", "load_study_from_run", "log_study_metadata"]

# Where neptune-optuna wrote its version: dashboards and run filters look for this field.
NEPTUNE_INTEGRATION_VERSION_KEY = "source_code/integrations/neptune-optuna"


class NeptuneCallback(DespinaCallback):
    """Log an Optuna study to a run as it optimizes, with neptune-optuna's arguments:
    `study.optimize(objective, callbacks=[NeptuneCallback(run)])`.

    `run` is a run (of this layer or native) or a namespace of one (`run["hpo"]`). Besides the
    integration's own version field, `source_code/integrations/neptune-optuna` is written, as
    neptune-optuna did; its value is the Despina version.
    """

    def __init__(
        self,
        run: Run | Handler,
        base_namespace: str = "",
        plots_update_freq: Frequency = 1,
        study_update_freq: Frequency = 1,
        visualization_backend: Literal["plotly", "matplotlib"] = "plotly",
        log_plot_contour: bool = True,
        log_plot_edf: bool = True,
        log_plot_parallel_coordinate: bool = True,
        log_plot_param_importances: bool = True,
        log_plot_pareto_front: bool = True,
        log_plot_slice: bool = True,
        log_plot_intermediate_values: bool = True,
        log_plot_optimization_history: bool = True,
        target_names: Sequence[str] | None = None,
        log_all_trials: bool = True,
    ) -> None:
        super().__init__(
            run,
            base_namespace=base_namespace,
            plots_update_freq=plots_update_freq,
            study_update_freq=study_update_freq,
            visualization_backend=visualization_backend,
            log_plot_contour=log_plot_contour,
            log_plot_edf=log_plot_edf,
            log_plot_parallel_coordinate=log_plot_parallel_coordinate,
            log_plot_param_importances=log_plot_param_importances,
            log_plot_pareto_front=log_plot_pareto_front,
            log_plot_slice=log_plot_slice,
            log_plot_intermediate_values=log_plot_intermediate_values,
            log_plot_optimization_history=log_plot_optimization_history,
            target_names=target_names,
            log_all_trials=log_all_trials,
        )
        root = self._log.root
        with self._log.lock:
            root[NEPTUNE_INTEGRATION_VERSION_KEY] = _despina_version
