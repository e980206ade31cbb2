// Values as the server sends them (despina.store.wire): JSON plus one-key `$` objects for what JSON lacks.

export interface FileRef {
  sha256: string;
  size: number;
  name: string;
  extension: string;
  mime_type: string;
}

export interface SeriesSummary {
  count: number;
  last: Value;
  last_step: number | null;
  last_timestamp: number | null;
  min?: number | null;
  max?: number | null;
  mean?: number | null;
}

export type Value =
  | null
  | boolean
  | number
  | string
  | { kind: "datetime"; date: Date }
  | { kind: "set"; items: Value[] }
  | { kind: "file"; file: FileRef }
  | { kind: "series"; summary: SeriesSummary }
  | { kind: "artifact"; artifact: Record<string, unknown> }
  | { kind: "list"; items: Value[] }
  | { kind: "object"; entries: Record<string, Value> };

const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };

export function decodeValue(raw: unknown): Value {
  if (raw === null || raw === undefined) return null;
  if (typeof raw === "boolean" || typeof raw === "number" || typeof raw === "string") return raw;
  if (Array.isArray(raw)) return { kind: "list", items: raw.map(decodeValue) };
  const obj = raw as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1) {
    const inner = obj[keys[0]];
    switch (keys[0]) {
      case "$float":
        return NON_FINITE[inner as string] ?? NaN;
      case "$datetime":
        return { kind: "datetime", date: new Date(inner as string) };
      case "$set":
        return { kind: "set", items: (inner as unknown[]).map(decodeValue) };
      case "$file":
        return { kind: "file", file: inner as FileRef };
      case "$artifact":
        return { kind: "artifact", artifact: inner as Record<string, unknown> };
      case "$series": {
        const s = inner as Record<string, unknown>;
        const summary: SeriesSummary = {
          count: s.count as number,
          last: decodeValue(s.last),
          last_step: decodeValue(s.last_step) as number | null,
          last_timestamp: decodeValue(s.last_timestamp) as number | null,
          min: decodeValue(s.min) as number | null,
          max: decodeValue(s.max) as number | null,
          mean: decodeValue(s.mean) as number | null,
        };
        return { kind: "series", summary };
      }
      case "$field": {
        const f = inner as { value: unknown };
        return decodeValue(f.value);
      }
    }
  }
  const entries: Record<string, Value> = {};
  for (const k of keys) entries[k] = decodeValue(obj[k]);
  return { kind: "object", entries };
}

export interface Field {
  path: string;
  type: string;
  value: Value;
}

/** `get_fields`: path -> {type, value}. */
export function decodeFields(raw: Record<string, { type: string; value: unknown }>): Field[] {
  return Object.entries(raw)
    .map(([path, f]) => ({ path, type: f.type, value: decodeValue(f.value) }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

/** A runs-table row (`query_runs`): path -> [type, value]. */
export type Row = Record<string, Field>;

export function decodeRow(raw: Record<string, unknown>): Row {
  const row: Row = {};
  for (const [path, item] of Object.entries(raw)) {
    const [type, value] = item as [string, unknown];
    row[path] = { path, type, value: decodeValue(value) };
  }
  return row;
}

/** The number a value sorts and plots by (a series: its last value), or null. */
export function numeric(value: Value): number | null {
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value && typeof value === "object") {
    if (value.kind === "series") return numeric(value.summary.last);
    if (value.kind === "datetime") return value.date.getTime() / 1000;
  }
  return null;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "∞" : "-∞";
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return n.toExponential(4).replace(/\.?0+e/, "e");
  return String(Number(n.toPrecision(6)));
}

export function formatBytes(size: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let s = size;
  while (s >= 1024 && i < units.length - 1) {
    s /= 1024;
    i++;
  }
  return `${i === 0 ? s : s.toFixed(1)} ${units[i]}`;
}

/** One line of text for a value, as a table cell shows it. */
export function formatValue(value: Value): string {
  if (value === null) return "";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "boolean" || typeof value === "string") return String(value);
  switch (value.kind) {
    case "datetime":
      return value.date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
    case "set":
    case "list":
      return value.items.map(formatValue).join(", ");
    case "file":
      return `${value.file.name}${value.file.extension ? "." + value.file.extension : ""} (${formatBytes(value.file.size)})`;
    case "series":
      return value.summary.count === 0 ? "(empty series)" : formatValue(value.summary.last);
    case "artifact":
      return `artifact ${String(value.artifact.hash ?? "").slice(0, 12)}`;
    case "object":
      return JSON.stringify(value.entries);
  }
}

/** A run's tags, from its `sys/tags` value. */
export function tagsOf(tags: Value | undefined): string[] {
  if (tags && typeof tags === "object" && tags.kind === "set") return tags.items.map(String);
  return [];
}
