// What a comparison shows: which fields differ between runs, and how a legend names each run.
import { formatValue, type Row } from "../api/wire";

/** Paths whose values are not all the same across the runs (missing counts as a value). */
export function differingPaths(rows: Row[], paths: string[]): string[] {
  return paths.filter((p) => {
    const seen = new Set(rows.map((r) => (r[p] ? formatValue(r[p].value) : "\u0000missing")));
    return seen.size > 1;
  });
}

/** Parameters: atoms outside sys/, monitoring/, environment/ and source_code/ (what a person set). */
export function parameterPaths(rows: Row[]): string[] {
  const paths = new Set<string>();
  for (const r of rows)
    for (const [p, f] of Object.entries(r))
      if (["float", "int", "bool", "string"].includes(f.type) && !/^(sys|monitoring|environment|source_code)\//.test(p)) paths.add(p);
  return [...paths].sort();
}

/** "CAS-3 · lr=0.01 · optimizer=SGD": the run and the parameters that tell it apart. */
export function legendLabel(row: Row, differing: string[], limit = 4): string {
  const id = String(row["sys/id"]?.value ?? "?");
  const parts = differing.slice(0, limit).map((p) => `${p.split("/").pop()}=${row[p] ? formatValue(row[p].value) : "—"}`);
  return [id, ...parts].join(" · ");
}
