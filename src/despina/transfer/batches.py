"""Sending an imported run's operations to its target in batches, the same way for every importer.

Each imported run is written by one writer with fixed sequence numbers, so a second import (or one
resumed after a failure) skips what the store already applied instead of adding it twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from despina.client.operations import AppendPoints, Operation
from despina.transfer.target import ImportTarget

OPS_PER_BATCH = 256
POINTS_PER_BATCH = 50_000


@dataclass
class BatchOutcome:
    """What one run's ingestion did."""

    operations: int = 0
    points: int = 0
    rejected: list[str] = field(default_factory=list)


def ingest_in_batches(
    target: ImportTarget,
    project: str,
    run_id: str,
    writer_id: str,
    operations: Iterable[tuple[int, Operation]],
    *,
    applied: int,
    before: Callable[[Operation], None] | None = None,
) -> BatchOutcome:
    """Send numbered operations, skipping those numbered `applied` or lower; `before` runs on each
    operation that will be sent (e.g. to put the blobs it refers to into the store first)."""
    outcome = BatchOutcome()
    batch: list[tuple[int, Operation]] = []
    points = 0

    def send() -> None:
        result = target.ingest(project, run_id, writer_id, batch, batch[-1][0])
        outcome.rejected.extend(result.rejected)
        outcome.operations += len(batch)

    for seq, op in operations:
        if seq <= applied:
            continue
        if before is not None:
            before(op)
        batch.append((seq, op))
        if isinstance(op, AppendPoints):
            points += len(op)
            outcome.points += len(op)
        if len(batch) >= OPS_PER_BATCH or points >= POINTS_PER_BATCH:
            send()
            batch, points = [], 0
    if batch:
        send()
    return outcome
