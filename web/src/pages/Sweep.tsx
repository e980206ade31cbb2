import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { api, projectParams, unwrap } from "../api/client";
import { decodeValue } from "../api/wire";
import { Chart, colorFor } from "../components/Chart";
import { ParallelCoords } from "../components/ParallelCoords";

interface SweepPlots {
  run_id: string;
  study_name: string | null;
  objectives: string[];
  directions: string[];
  trials: { total: number; by_state: Record<string, number> };
  history: Record<string, { numbers: number[]; values: number[]; best: number[] }>;
  parallel_coordinates: {
    numbers: number[];
    objectives: Record<string, number[]>;
    params: { name: string; kind: string; log: boolean; values: (number | string | null)[]; choices: unknown[] | null }[];
  };
  importance: { method: string; note: string | null; values: Record<string, Record<string, number>> };
}

/** Plain numbers back from the wire encoding (an infinite objective value stays infinite). */
function plain(v: unknown): unknown {
  const d = decodeValue(v);
  const unwrapValue = (x: ReturnType<typeof decodeValue>): unknown => {
    if (x && typeof x === "object") {
      if (x.kind === "list") return x.items.map(unwrapValue);
      if (x.kind === "object") return Object.fromEntries(Object.entries(x.entries).map(([k, e]) => [k, unwrapValue(e)]));
      if (x.kind === "set") return x.items.map(unwrapValue);
    }
    return x;
  };
  return unwrapValue(d);
}

function bestIndex(values: number[], direction: string): number {
  let best = -1;
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) return;
    if (best < 0 || (direction === "maximize" ? v > values[best] : v < values[best])) best = i;
  });
  return best;
}

export function SweepPage() {
  const { workspace, project: name, runId = "" } = useParams();
  const project = `${workspace}/${name}`;
  const plots = useQuery({
    queryKey: ["sweep", project, runId],
    queryFn: async () =>
      plain(
        await unwrap(
          api.GET("/api/v1/projects/{workspace}/{project}/sweeps/{run_id}/plots", { params: { path: { ...projectParams(project), run_id: runId } } }),
        ),
      ) as SweepPlots,
  });
  if (plots.isError) return <p className="error">{String(plots.error)}</p>;
  if (!plots.data) return <p className="loading">Loading sweep {runId}…</p>;
  const p = plots.data;
  const objective = p.objectives[0];
  const direction = (p.directions[0] ?? "minimize").toLowerCase();
  const pc = p.parallel_coordinates;
  const objValues = pc.objectives[objective] ?? [];
  const best = bestIndex(objValues, direction);
  const importance = Object.entries(p.importance.values[objective] ?? {}).sort((a, b) => b[1] - a[1]);

  return (
    <section className="page sweep-page">
      <h1>
        Sweep {p.study_name ?? ""} <Link to={`/p/${workspace}/${name}/runs/${runId}`}>{runId}</Link>
      </h1>
      <p>
        {p.trials.total} trials ({Object.entries(p.trials.by_state).map(([s, n]) => `${n} ${s.toLowerCase()}`).join(", ")}) · objective{" "}
        <strong>{objective}</strong> ({direction})
        {best >= 0 ? (
          <span className="best" data-testid="best-trial">
            {" "}
            · best: trial {pc.numbers[best]} = {objValues[best]}
          </span>
        ) : null}
      </p>
      <h2>Optimization history</h2>
      {p.objectives.map((o) => {
        const h = p.history[o];
        if (!h || !h.numbers.length) return <p key={o} className="muted">No complete trials yet.</p>;
        return (
          <Chart
            key={o}
            title={o}
            xLabel="trial"
            xWhole
            note={null}
            series={[
              { label: "trial value", color: colorFor(0), x: h.numbers, y: h.values, points: true },
              { label: "best so far", color: "#d6336c", x: h.numbers, y: h.best },
            ]}
            testId="sweep-history"
          />
        );
      })}
      <h2>Parallel coordinates</h2>
      {pc.numbers.length ? (
        <ParallelCoords
          axes={[...pc.params.map((param) => ({ key: param.name, values: param.values })), { key: objective, values: objValues }]}
          labels={pc.numbers.map((n) => `trial ${n}`)}
          colors={pc.numbers.map((_, i) => (i === best ? "#d6336c" : colorFor(2)))}
          highlight={best}
        />
      ) : (
        <p className="muted">No complete trials yet.</p>
      )}
      <h2>Parameter importance</h2>
      {importance.length ? (
        <table className="plain importance" data-testid="importance">
          <tbody>
            {importance.map(([param, value]) => (
              <tr key={param}>
                <th>{param}</th>
                <td>
                  <meter min={0} max={1} value={value} /> {value.toFixed(3)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">{p.importance.note ?? "No importance computed."}</p>
      )}
      <p className="muted">Importance: {p.importance.method}</p>
    </section>
  );
}
