// Runs-table rows held column by column, in typed arrays where the values are numbers.
//
// Decoded one object per cell (a field, its value, a series' summary and a box for each of its
// numbers), 10,000 runs x 30 columns took about 45 MB of the page's heap, every object of it for
// the garbage collector to mark in each full collection (100,000 runs would be about 450 MB). Held
// here, a number costs 10 bytes (its value, its type, how it is held) and a float series' summary
// 59, and a page of rows is a few dozen objects whatever its size (the heap after loading 10,000
// runs: 48-83 MB before, 21 MB). A cell's value is built again when it is read, which the table
// does for the few hundred cells it draws.
//
// The columns are plain data (PageData), built from the parsed JSON by pageData: a worker builds
// them for the pages read in the background (api/pageDecoder), so that the parsed JSON, a few
// megabytes of short-lived objects a page, never enters the page's own heap.
import { decodeValue, type Field, type SeriesSummary, type Value } from "./wire";

/** How a row holds its value of a column (`ColumnData.held`). */
const MISSING = 0;
const NUMBER = 1;
/** A series whose summary is all numbers and nulls (a float series): the summary is in `stats`. */
const SERIES = 2;
/** Anything else, decoded, in `values`. */
const OTHER = 3;

/** A series summary's numbers, in the order `stats` holds them. */
const STATS = ["count", "last", "last_step", "last_timestamp", "min", "max", "mean"] as const;

/** The number a raw value is (a JSON number, or `{"$float": "NaN"}` and the like), or undefined. */
function numberOf(raw: unknown): number | undefined {
  if (typeof raw === "number") return raw;
  if (raw === null || typeof raw !== "object" || !("$float" in raw)) return undefined;
  const value = decodeValue(raw);
  return typeof value === "number" ? value : undefined;
}

/** The summary inside a raw `{"$series": {...}}` value, or null. */
function seriesSummaryOf(raw: unknown): Record<string, unknown> | null {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return null;
  const keys = Object.keys(raw);
  if (keys.length !== 1 || keys[0] !== "$series") return null;
  const summary = (raw as Record<string, unknown>).$series;
  return summary !== null && typeof summary === "object" ? (summary as Record<string, unknown>) : null;
}

/**
 * One column of a page: plain data (typed arrays and arrays), so that a worker can build it and
 * hand it over (api/pageDecoder).
 */
export interface ColumnData {
  /** MISSING, NUMBER, SERIES or OTHER, per row. */
  held: Uint8Array;
  /** Per row, the field's type as an index into PageData.types. */
  type: Uint8Array;
  numbers: Float64Array | null;
  /** STATS.length numbers per row, for rows held as SERIES. */
  stats: Float64Array | null;
  /** Per row held as SERIES: bit k set where STATS[k] is null. */
  nulls: Uint8Array | null;
  /** Decoded values of rows held as OTHER. */
  values: (Value | undefined)[] | null;
}

/** A page of runs-table rows, column by column. */
export interface PageData {
  length: number;
  /** The type names the columns' `type` indexes. */
  types: string[];
  columns: Record<string, ColumnData>;
}

/** A series' summary as numbers, if every one of them is a number or null; else null. */
function seriesNumbers(summary: Record<string, unknown>): { numbers: number[]; nulls: number } | null {
  const numbers: number[] = [];
  let nulls = 0;
  for (let k = 0; k < STATS.length; k++) {
    const raw = summary[STATS[k]];
    if (raw === null || raw === undefined) {
      nulls |= 1 << k;
      numbers.push(0);
      continue;
    }
    const number = numberOf(raw);
    if (number === undefined) return null;
    numbers.push(number);
  }
  return { numbers, nulls };
}

/** Columns of `/table` rows (path -> [type, value] per run). */
export function pageData(rows: Record<string, unknown>[]): PageData {
  const length = rows.length;
  const types: string[] = [];
  const typeIndex = new Map<string, number>();
  const columns: Record<string, ColumnData> = {};
  rows.forEach((row, index) => {
    for (const path in row) {
      const [type, raw] = row[path] as [string, unknown];
      let column = columns[path];
      if (!column) {
        column = { held: new Uint8Array(length).fill(MISSING), type: new Uint8Array(length), numbers: null, stats: null, nulls: null, values: null };
        columns[path] = column;
      }
      let t = typeIndex.get(type);
      if (t === undefined) {
        if (types.length > 255) throw new Error(`a page of runs has more than 256 field types (${type})`);
        t = types.length;
        types.push(type);
        typeIndex.set(type, t);
      }
      column.type[index] = t;
      const number = numberOf(raw);
      if (number !== undefined) {
        column.numbers ??= new Float64Array(length);
        column.numbers[index] = number;
        column.held[index] = NUMBER;
        continue;
      }
      const summary = seriesSummaryOf(raw);
      const series = summary && seriesNumbers(summary);
      if (series) {
        column.stats ??= new Float64Array(length * STATS.length);
        column.nulls ??= new Uint8Array(length);
        column.stats.set(series.numbers, index * STATS.length);
        column.nulls[index] = series.nulls;
        column.held[index] = SERIES;
        continue;
      }
      column.values ??= new Array<Value | undefined>(length).fill(undefined);
      column.values[index] = decodeValue(raw);
      column.held[index] = OTHER;
    }
  });
  return { length, types, columns };
}

/** The buffers of a page's typed arrays: what a worker transfers instead of copying. */
export function pageBuffers(page: PageData): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const column of Object.values(page.columns)) {
    for (const array of [column.held, column.type, column.numbers, column.stats, column.nulls]) {
      if (array) buffers.push(array.buffer as ArrayBuffer);
    }
  }
  return buffers;
}

/** Type names, so that every page's cells of a type share one string. */
const typeNames = new Map<string, string>();
function typeName(type: string): string {
  let known = typeNames.get(type);
  if (known === undefined) {
    known = type;
    typeNames.set(type, type);
  }
  return known;
}

function valueOf(column: ColumnData, index: number): Value | undefined {
  switch (column.held[index]) {
    case NUMBER:
      return column.numbers![index];
    case SERIES: {
      const nulls = column.nulls![index];
      const at = index * STATS.length;
      const stat = (k: number): number | null => ((nulls >> k) & 1 ? null : column.stats![at + k]);
      const summary: SeriesSummary = {
        count: stat(0) ?? 0,
        last: stat(1),
        last_step: stat(2),
        last_timestamp: stat(3),
        min: stat(4),
        max: stat(5),
        mean: stat(6),
      };
      return { kind: "series", summary };
    }
    case OTHER:
      return column.values![index];
    default:
      return undefined;
  }
}

/** A page of runs-table rows, held by column (see the top of this module). */
export class RowPage {
  readonly length: number;
  private readonly types: string[];
  private readonly columns: Map<string, ColumnData>;

  constructor(data: PageData) {
    this.length = data.length;
    this.types = data.types.map(typeName);
    this.columns = new Map(Object.entries(data.columns));
  }

  /** The rows of the page, in its order. */
  rows(): TableRow[] {
    return Array.from({ length: this.length }, (_, index) => new TableRow(this, index));
  }

  value(index: number, path: string): Value | undefined {
    const column = this.columns.get(path);
    return column && valueOf(column, index);
  }

  type(index: number, path: string): string | undefined {
    const column = this.columns.get(path);
    return column && column.held[index] !== MISSING ? this.types[column.type[index]] : undefined;
  }
}

/** One run of the runs table: its fields read from its page. */
export class TableRow {
  /** The run's id (`sys/id`). */
  readonly id: string;

  constructor(
    private readonly page: RowPage,
    private readonly index: number,
  ) {
    this.id = String(page.value(index, "sys/id") ?? "");
  }

  /** The run's value of `path`; undefined where the run has no such field. */
  value(path: string): Value | undefined {
    return this.page.value(this.index, path);
  }

  field(path: string): Field | undefined {
    const type = this.page.type(this.index, path);
    return type === undefined ? undefined : { path, type, value: this.value(path) ?? null };
  }
}
