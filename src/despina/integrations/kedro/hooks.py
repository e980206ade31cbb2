"""Kedro hooks: one Despina run per `kedro run`, with the pipeline, its parameters and every node.

Registered through the `kedro.hooks` entry point (`despina_hooks`), so they are active as soon as
Despina is installed; `DISABLE_HOOKS_FOR_PLUGINS = ("despina",)` in settings.py turns them off. Only
Kedro's public hook specifications are implemented (kedro/framework/hooks/specs.py), each with just the
arguments it needs, which keeps them valid across Kedro releases (0.19 calls the run id `session_id`,
1.x `run_id`; neither is needed here).

Fields, under the base namespace (`kedro/` by default):

- `kedro_command`, `run_params/<key>`, `catalog/parameters/<name>` (nested parameters nest),
  `catalog/datasets/<name>/{type,description}`, `structure` (the pipeline as JSON, a file),
  `execution_order` (`pipeline.describe()`), `log` (a string series: node starts and ends);
- `nodes/<node>/{status,inputs,outputs,parameters/<p>,started_at,finished_at,execution_time}`;
  a failing node adds `nodes/<node>/error`, and the run ends failed with `error/{node,message,traceback}`
  (and the traceback under `monitoring/`, as for any failed run);
- `catalog/files/<name>` and `metrics/<name>/<key>` from DespinaFileDataset and DespinaMetricsDataset;
- `source_code/integrations/despina-kedro`: the Kedro version.

Runners: SequentialRunner and ThreadRunner call the node hooks in the process that opened the run.
ParallelRunner calls them in worker processes, which join the run by its custom id (runs.py) and flush
after each node; their node starts and ends are added to `log` in time order when the pipeline ends,
since a series takes points in order only.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from despina.client.handler import Handler
from despina.client.run import Run, init_run
from despina.integrations.kedro import catalog as cat
from despina.integrations.kedro.config import (
    CONFIG_FILE,
    CREDENTIALS_KEY,
    KedroConfig,
    parse_config,
)
from despina.integrations.kedro.datasets import (
    ALIAS_SUFFIX,
    RUN_DATASET,
    DespinaFileDataset,
    DespinaMetricsDataset,
    DespinaRunDataset,
)
from despina.integrations.kedro.runs import (
    DISABLED_PROJECT,
    RunSpec,
    flush_joined,
    forget,
    new_custom_run_id,
    owns,
    register,
    run_for,
)
from despina.utils import stringify_unsupported

logger = logging.getLogger(__name__)

INTEGRATION_VERSION_KEY = "source_code/integrations/despina-kedro"
CONFIG_PATTERNS = ["despina*", "despina*/**"]
# Folders whose files are never source code of the project (virtualenvs, caches, data).
_SKIPPED_PARTS = frozenset({"__pycache__", "site-packages", "node_modules", "data", "logs", "build", "dist"})
_MAX_SOURCE_FILES = 1000


def field_name(name: str) -> str:
    """A dataset or node name as one field path segment (`model@despina` -> `model`)."""
    if name.endswith(ALIAS_SUFFIX):
        name = name[: -len(ALIAS_SUFFIX)]
    return name.replace("/", "_").strip() or "_"


def load_config(context: Any) -> KedroConfig | None:
    """The session's settings from Kedro's config loader; None when the project has no despina.yml."""
    from kedro.config import MissingConfigException

    loader = context.config_loader
    patterns = getattr(loader, "config_patterns", None)
    if isinstance(patterns, dict):
        patterns.setdefault("despina", CONFIG_PATTERNS)
    try:
        settings = loader["despina"]
    except (MissingConfigException, KeyError):
        return None
    try:
        credentials = (loader["credentials"] or {}).get(CREDENTIALS_KEY)
    except (MissingConfigException, KeyError):
        credentials = None
    return parse_config(settings, credentials, origin=f"conf/{{base,{context.env}}}/{CONFIG_FILE}")


def source_files(project_path: Path, globs: tuple[str, ...]) -> list[str]:
    """The project's files matching `globs`, outside hidden folders, virtualenvs and data."""
    found: set[Path] = set()
    for pattern in globs:
        for path in project_path.glob(pattern):
            parts = path.relative_to(project_path).parts
            if path.is_file() and not any(p.startswith(".") or p in _SKIPPED_PARTS for p in parts[:-1]):
                found.add(path)
    files = sorted(found)[:_MAX_SOURCE_FILES]
    return [glob.escape(str(path)) for path in files]


def _run_param(value: Any) -> Any:
    """A run parameter as a loggable value: Kedro 1.x passes the runner object, 0.19 its name."""
    if isinstance(value, (str, int, float, bool, list, tuple, dict, set, frozenset)):
        return value
    return type(value).__name__


def _command() -> str:
    """`kedro run ...` as typed (also under `python -m kedro`); the full argv in other processes."""
    script = Path(sys.argv[0])
    as_module = sys.argv[0].endswith("-m kedro") or (
        script.name == "__main__.py" and script.parent.name == "kedro"
    )
    if script.name == "kedro" or as_module:
        return " ".join(["kedro", *sys.argv[1:]])
    return " ".join(sys.argv)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _log_values(handler: Handler, values: Any) -> None:
    """Assign a nested mapping of plain values under `handler` (empty mappings are skipped)."""
    converted = stringify_unsupported(values)
    if isinstance(converted, dict):
        for key, value in converted.items():
            if isinstance(value, dict):
                if value:
                    _log_values(handler[field_name(str(key))], value)
            else:
                handler[field_name(str(key))] = value
    else:
        handler.assign(converted)


class _Session:
    """The plugin's state for one Kedro session in the process that starts the pipeline."""

    def __init__(self, config: KedroConfig, project_path: Path, env: str | None) -> None:
        self.config = config
        self.project_path = project_path
        self.env = env
        self.spec = RunSpec(
            project=config.project,
            custom_run_id=new_custom_run_id(),
            base_namespace=config.base_namespace,
            enabled=config.enabled,
        )
        self.run: Run | None = None
        self.nodes_seen: set[str] = set()
        self.datasets_logged: set[str] = set()


class DespinaHooks:
    """The Kedro hooks of the plugin (one instance, `despina_hooks`, is what Kedro registers)."""

    def __init__(self) -> None:
        self._session: _Session | None = None
        self._lock = threading.Lock()
        # Per process: the catalog the node hooks saw last (after_dataset_saved gets none), and when
        # each node started.
        self._catalog: Any = None
        self._started: dict[str, float] = {}

    # -- session -----------------------------------------------------------------------------------

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        config = load_config(context)
        if config is None:
            logger.info(
                "Despina: no %s in the project's conf/ folder, so this run is not tracked; "
                "`kedro despina init` writes one.",
                CONFIG_FILE,
            )
            config = KedroConfig(enabled=False)
        # The client reads the server and token from the environment; worker processes inherit it.
        if config.enabled and config.url:
            os.environ["DESPINA_URL"] = config.url
        if config.enabled and config.api_token:
            os.environ["DESPINA_API_TOKEN"] = config.api_token
        self._session = _Session(config, Path(context.project_path), getattr(context, "env", None))

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        if self._session is not None:
            cat.add_dataset(catalog, RUN_DATASET, DespinaRunDataset(self._session.spec))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        session = self._session
        if session is None:
            return
        # Namespaced (modular) pipelines ask for `<namespace>.despina_run`: the same run.
        for name in sorted(pipeline.inputs()):
            if name.endswith(f".{RUN_DATASET}") and not cat.contains(catalog, name):
                cat.add_dataset(catalog, name, DespinaRunDataset(session.spec))
        self._catalog = catalog
        session.run = register(session.spec, lambda: self._open_run(session, run_params))
        base = session.run[session.spec.base_namespace]
        self._log_pipeline(base, run_params, pipeline, catalog)
        base["log"].append(f"Starting pipeline ({len(pipeline.nodes)} nodes)")

    def _open_run(self, session: _Session, run_params: dict[str, Any]) -> Run:
        config = session.config
        if not config.enabled:
            return init_run(project=DISABLED_PROJECT, custom_run_id=session.spec.custom_run_id, mode="debug")
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        dependencies = config.dependencies
        if dependencies and dependencies != "infer" and not Path(dependencies).is_absolute():
            dependencies = str(session.project_path / dependencies)
        return init_run(
            project=config.project,
            custom_run_id=session.spec.custom_run_id,
            name=config.name or f"kedro run {' '.join(str(n) for n in names)}",
            tags=["kedro", *config.tags],
            source_files=source_files(session.project_path, config.source_files),
            dependencies=dependencies,
        )

    def _log_pipeline(self, base: Handler, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        import kedro

        base.get_root_object()[INTEGRATION_VERSION_KEY] = kedro.__version__
        base["kedro_command"] = _command()
        params = {k: _run_param(v) for k, v in run_params.items() if v not in (None, [], {}, (), "")}
        _log_values(base["run_params"], params)
        names = cat.dataset_names(catalog)
        if "parameters" in names:
            _log_values(base["catalog/parameters"], catalog.load("parameters"))
        logged = self._session.datasets_logged if self._session is not None else set()
        self._log_datasets(base, catalog, sorted(set(names) | set(pipeline.datasets())), logged)
        structure = json.dumps(json.loads(pipeline.to_json()), indent=2, sort_keys=True)
        from despina.types import File

        base["structure"].upload(File.from_content(structure, extension="json"))
        base["execution_order"] = pipeline.describe()

    def _log_datasets(self, base: Handler, catalog: Any, names: list[str], logged: set[str]) -> None:
        """Type and description of each dataset not logged yet (at the start, and at the end for
        datasets created on the way, e.g. from patterns)."""
        for name in names:
            if (
                name in logged
                or name == "parameters"
                or name.startswith("params:")
                or name.endswith(RUN_DATASET)
            ):
                continue
            dataset = cat.get_dataset(catalog, name)
            if dataset is None:
                continue
            entry = base[f"catalog/datasets/{field_name(name)}"]
            entry["type"] = f"{type(dataset).__module__}.{type(dataset).__qualname__}"
            entry["description"] = str(dataset)
            logged.add(name)

    # -- nodes ------------------------------------------------------------------------------------

    def _node_handler(self, catalog: Any) -> tuple[RunSpec, Handler] | None:
        dataset = cat.get_dataset(catalog, RUN_DATASET)
        if not isinstance(dataset, DespinaRunDataset):
            return None  # a session without the plugin's context hook (e.g. a bare runner)
        return dataset.spec, run_for(dataset.spec)[dataset.spec.base_namespace]

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any]) -> None:
        self._catalog = catalog
        found = self._node_handler(catalog)
        if found is None:
            return
        spec, base = found
        name = field_name(node.name)
        with self._lock:
            self._started[node.name] = time.perf_counter()
        entry = base[f"nodes/{name}"]
        entry["status"] = "running"
        entry["started_at"] = _now()
        entry["inputs"] = str(sorted(node.inputs))
        entry["outputs"] = str(sorted(node.outputs))
        for key, value in inputs.items():
            if key.startswith("params:"):
                _log_values(entry["parameters"], {key[len("params:") :]: value})
        if owns(spec):
            base["log"].append(f"Running node: {node.name}")
            if self._session is not None:
                self._session.nodes_seen.add(node.name)

    def _end_node(self, node: Any, catalog: Any, status: str, error: BaseException | None) -> None:
        found = self._node_handler(catalog)
        if found is None:
            return
        spec, base = found
        with self._lock:
            started = self._started.pop(node.name, None)
        entry = base[f"nodes/{field_name(node.name)}"]
        if started is not None:
            entry["execution_time"] = time.perf_counter() - started
        entry["finished_at"] = _now()
        entry["status"] = status
        if error is not None:
            entry["error"] = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        if owns(spec):
            verb = "Finished" if error is None else "Failed"
            base["log"].append(f"{verb} node: {node.name}" + ("" if error is None else f": {error!r}"))
        flush_joined()

    @hook_impl
    def after_node_run(self, node: Any, catalog: Any) -> None:
        self._end_node(node, catalog, "done", None)

    @hook_impl
    def on_node_error(self, error: Exception, node: Any, catalog: Any) -> None:
        self._end_node(node, catalog, "failed", error)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        catalog = self._catalog
        if catalog is None:
            return
        dataset = cat.get_dataset(catalog, dataset_name)
        if not isinstance(dataset, (DespinaFileDataset, DespinaMetricsDataset)):
            return
        found = self._node_handler(catalog)
        if found is None:
            return
        _, base = found
        if isinstance(dataset, DespinaFileDataset):
            base[f"catalog/files/{field_name(dataset_name)}"].upload(str(dataset.filepath))
        else:
            from despina.integrations.kedro.datasets import flatten_metrics

            for key, value in flatten_metrics(data, dataset_name).items():
                base[f"metrics/{field_name(dataset_name)}/{key}"] = value

    # -- end --------------------------------------------------------------------------------------

    def _finish(self, pipeline: Any, catalog: Any, error: BaseException | None) -> None:
        session = self._session
        if session is None or session.run is None:
            return
        run, base = session.run, session.run[session.spec.base_namespace]
        try:
            self._log_worker_nodes(session, run, base, pipeline)
            names = cat.dataset_names(catalog)
            for name in names:
                dataset = cat.get_dataset(catalog, name)
                if isinstance(dataset, DespinaFileDataset) and dataset.filepath.is_file():
                    base[f"catalog/files/{field_name(name)}"].upload(str(dataset.filepath))
            self._log_datasets(
                base, catalog, sorted(set(names) | set(pipeline.datasets())), session.datasets_logged
            )
            if error is None:
                base["log"].append("Finished pipeline")
            else:
                base["log"].append(f"Failed pipeline: {error!r}")
                failed = self._failed_nodes(run, base, pipeline)
                if failed:
                    base["error/node"] = ", ".join(failed)
                base["error/message"] = f"{type(error).__name__}: {error}"
                base["error/traceback"] = "".join(
                    traceback.format_exception(type(error), error, error.__traceback__)
                )
        finally:
            forget(session.spec.custom_run_id)
            session.run = None
            if error is None:
                run.stop()
            else:
                run.__exit__(type(error), error, error.__traceback__)

    def _failed_nodes(self, run: Run, base: Handler, pipeline: Any) -> list[str]:
        if not self._session or not self._session.config.enabled:
            return []
        run.sync()
        failed = []
        for node in pipeline.nodes:
            status = base[f"nodes/{field_name(node.name)}/status"]
            if run.exists(status.path) and status.fetch() == "failed":
                failed.append(node.name)
        return failed

    def _log_worker_nodes(self, session: _Session, run: Run, base: Handler, pipeline: Any) -> None:
        """Add the node starts and ends that worker processes logged to `log`, in time order."""
        missing = [n for n in pipeline.nodes if n.name not in session.nodes_seen]
        if not missing or not session.config.enabled:
            return
        run.sync()  # the workers' fields are in the store; learn their paths
        events: list[tuple[datetime, str]] = []
        for node in missing:
            entry = base[f"nodes/{field_name(node.name)}"]
            for field, verb in (("started_at", "Running"), ("finished_at", None)):
                if not run.exists(entry[field].path):
                    continue
                if verb is None:
                    status = entry["status"].fetch() if run.exists(entry["status"].path) else "done"
                    verb = "Finished" if status == "done" else "Failed"
                events.append((entry[field].fetch(), f"{verb} node: {node.name}"))
        for _, line in sorted(events, key=lambda event: event[0]):
            base["log"].append(line)

    @hook_impl
    def after_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        self._finish(pipeline, catalog, None)

    @hook_impl
    def on_pipeline_error(self, error: Exception, pipeline: Any, catalog: Any) -> None:
        self._finish(pipeline, catalog, error)


despina_hooks = DespinaHooks()
