// What a comparison shows: which fields differ between runs, and how a legend names each run.
import { formatValue, type Row } from "../api/wire";

/** Paths whose values are not all the same across the runs (missing counts as a value). */
export function differingPaths(rows: Row[], paths: string[]): string[] {
  const shown = (r: Row, p: string) => (r[p] ? formatValue(r[p].value) : "\u0000missing");
  // Against the first run, up to the first that differs: a path of 10,000 runs that differ in it
  // is decided in a few, not by formatting all of them.
  return paths.filter((p) => {
    const first = shown(rows[0], p);
    return rows.some((r) => shown(r, p) !== first);
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
