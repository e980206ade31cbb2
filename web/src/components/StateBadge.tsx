import { useEffect, useState } from "react";
import { duration } from "../lib/format";

/** One clock for every badge on a page (one timer, not one per row). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now() / 1000), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

/** A run's state; a running run shows how long it has been running, ticking. */
export function StateBadge({
  state,
  started,
  now,
  failed,
}: {
  state: string;
  started?: number | null;
  now?: number;
  failed?: boolean;
}) {
  const label = failed && state !== "running" ? "failed" : state;
  return (
    <span className={`badge state-${label}`} data-testid="state">
      {label}
      {state === "running" && started && now ? <span className="elapsed"> {duration(now - started)}</span> : null}
    </span>
  );
}
