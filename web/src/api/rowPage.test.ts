import { describe, expect, it } from "vitest";
import { pageData, RowPage } from "./rowPage";
import { decodeRow } from "./wire";

const series = (summary: Record<string, unknown>) => ({ $series: summary });

// Rows as `/table` sends them: path -> [type, value], with every kind of value the table meets.
const RAW: Record<string, unknown>[] = [
  {
    "sys/id": ["string", "CAS-1"],
    "sys/tags": ["string_set", { $set: ["a", "b"] }],
    "sys/creation_time": ["datetime", { $datetime: "2026-11-23T10:00:00+00:00" }],
    "sys/failed": ["bool", false],
    "p/lr": ["float", 0.001],
    "p/epochs": ["int", 12],
    "p/opt": ["string", "adam"],
    "m/acc": ["float_series", series({ count: 3, last: 0.91, last_step: 2, last_timestamp: 1763892000.5, min: 0.5, max: 0.91, mean: 0.7 })],
    "m/loss": ["float_series", series({ count: 0, last: null, last_step: null, last_timestamp: null })],
    "m/odd": ["float", { $float: "NaN" }],
  },
  {
    "sys/id": ["string", "CAS-2"],
    "p/lr": ["float", { $float: "-Infinity" }],
    "p/opt": ["string", "sgd"],
    "m/acc": ["float_series", series({ count: 2, last: { $float: "NaN" }, last_step: 1, last_timestamp: 1763892001, min: 0.1, max: 0.2, mean: 0.15 })],
    "m/loss": ["string_series", series({ count: 1, last: "diverged", last_step: 0, last_timestamp: 1763892001 })],
    "m/odd": ["string", "text"],
    "model/weights": ["file", { $file: { sha256: "ab", size: 10, name: "w", extension: "pt", mime_type: "application/octet-stream" } }],
  },
];

describe("RowPage", () => {
  const rows = new RowPage(pageData(RAW)).rows();

  it("reads back every field as the record decoding does, and nothing for fields a run lacks", () => {
    const paths = new Set(RAW.flatMap((r) => Object.keys(r)));
    RAW.forEach((raw, i) => {
      const record = decodeRow(raw);
      for (const path of paths) expect(rows[i].field(path)).toEqual(record[path]);
    });
    expect(rows[0].value("model/weights")).toBeUndefined();
    expect(rows[1].value("sys/tags")).toBeUndefined();
    expect(rows[0].value("no/such")).toBeUndefined();
  });

  it("keeps NaN, infinities and null summary numbers apart", () => {
    expect(rows[0].value("m/odd")).toBeNaN();
    expect(rows[1].value("p/lr")).toBe(-Infinity);
    const empty = rows[0].value("m/loss");
    expect(empty).toEqual({ kind: "series", summary: { count: 0, last: null, last_step: null, last_timestamp: null, min: null, max: null, mean: null } });
  });

  it("gives each row its run id, in the page's order", () => {
    expect(rows.map((r) => r.id)).toEqual(["CAS-1", "CAS-2"]);
  });
});
