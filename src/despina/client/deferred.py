"""Creating a run later: when the server cannot be reached at `init_run`, training starts anyway.

The run logs into its journal as an offline run would (the journal's metadata holds the creation
request, with the writer id as creation token). A background thread keeps asking the server to create
the run, with a growing delay; once it answers, the run gets its id and its sender starts draining the
journal. If the process ends first, `despina sync` creates the same run from the journal (the
creation token makes both ways find one run, never two).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

from despina.backends.base import Backend
from despina.exceptions import DespinaWarning, ServerUnavailableError
from despina.store.base import RunCreate, RunInfo


class DeferredCreation:
    """A daemon thread that creates a run once the backend answers, then calls `on_created`."""

    def __init__(
        self,
        backend: Backend,
        request: RunCreate,
        on_created: Callable[[RunInfo], None],
        first_delay: float = 1.0,
        max_delay: float = 30.0,
    ) -> None:
        self.backend = backend
        self.request = request
        self.on_created = on_created
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="despina-create-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        delay = self.first_delay
        while not self._stop.wait(delay):
            try:
                info, _ = self.backend.create_run(self.request)
            except ServerUnavailableError:
                delay = min(delay * 2, self.max_delay)
                continue
            except Exception as exc:  # refused (token, project name): keep the journal for `despina sync`
                warnings.warn(
                    f"Despina could not create the run on the server ({type(exc).__name__}: {exc}); "
                    "everything logged stays in the journal: fix the cause and run `despina sync`.",
                    DespinaWarning,
                    stacklevel=1,
                )
                return
            if not self._stop.is_set():
                self.on_created(info)
            return
