import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { appendPoints, bucketsBodyToView, bucketsToLine, decodeBuckets, smooth } from "./series";

const bytes = (values: number[]) => new Uint8Array(new Float64Array(values).buffer);

describe("series for charts", () => {
  it("draws each bucket as its extremes in step order", () => {
    const line = bucketsToLine({
      first_step: new Float64Array([0, 10]),
      first_value: new Float64Array([1, 5]),
      min_step: new Float64Array([3, 10]),
      min_value: new Float64Array([-7, 5]),
      max_step: new Float64Array([2, 19]),
      max_value: new Float64Array([9, 8]),
      last_step: new Float64Array([9, 19]),
      last_value: new Float64Array([2, 8]),
    });
    // Bucket 0: max (step 2) before min (step 3); bucket 1: min, then max. The first and last
    // points lie between the extremes, so they add no vertex.
    expect(Array.from(line.x)).toEqual([2, 3, 10, 19]);
    expect(Array.from(line.y)).toEqual([9, -7, 5, 8]);
    expect(line.t).toBeNull();
  });

  it("keeps a first or last point that is not a number, so a gap stays a gap", () => {
    const line = bucketsToLine({
      first_step: new Float64Array([0, 10]),
      first_value: new Float64Array([NaN, 5]),
      min_step: new Float64Array([3, 10]),
      min_value: new Float64Array([-7, 5]),
      max_step: new Float64Array([2, 12]),
      max_value: new Float64Array([9, 8]),
      last_step: new Float64Array([9, 19]),
      last_value: new Float64Array([2, Infinity]),
    });
    expect(Array.from(line.x)).toEqual([0, 2, 3, 10, 12, 19]);
    expect(Number.isNaN(line.y[0])).toBe(true);
    expect(line.y[5]).toBe(Infinity);
  });

  it("draws a one-point bucket once", () => {
    const one = (v: number) => new Float64Array([v]);
    const line = bucketsToLine({
      first_step: one(4), first_value: one(1), min_step: one(4), min_value: one(1),
      max_step: one(4), max_value: one(1), last_step: one(4), last_value: one(1),
    });
    expect(Array.from(line.x)).toEqual([4]);
  });

  it("carries each point's time when the buckets have them (a time axis)", () => {
    const line = bucketsToLine({
      first_step: new Float64Array([0]),
      first_value: new Float64Array([1]),
      first_time: new Float64Array([100]),
      min_step: new Float64Array([3]),
      min_value: new Float64Array([-7]),
      min_time: new Float64Array([103]),
      max_step: new Float64Array([2]),
      max_value: new Float64Array([9]),
      max_time: new Float64Array([102]),
      last_step: new Float64Array([3]),
      last_value: new Float64Array([-7]),
      last_time: new Float64Array([103]),
    });
    expect(Array.from(line.x)).toEqual([2, 3]);
    expect(Array.from(line.t ?? [])).toEqual([102, 103]);
  });

  it("decodes a line as the server draws it (form=line): its points, and the total it stands for", () => {
    const view = bucketsBodyToView({ exact: false, total: 5000, x: bytes([2, 3, 10]), y: bytes([9, -7, NaN]) });
    expect(view.exact).toBe(false);
    expect(view.total).toBe(5000);
    expect(Array.from(view.x)).toEqual([2, 3, 10]);
    expect(Array.from(view.y.slice(0, 2))).toEqual([9, -7]);
    expect(Number.isNaN(view.y[2])).toBe(true);
    expect(view.t).toBeNull();
    const timed = bucketsBodyToView({ exact: false, total: 10, x: bytes([1]), y: bytes([2]), t: bytes([100]) });
    expect(Array.from(timed.t ?? [])).toEqual([100]);
  });

  it("decodes the server's msgpack (exact and bucketed)", () => {
    const exact = decodeBuckets(
      encode({ exact: true, steps: bytes([0, 1]), timestamps: bytes([10, 11]), values: bytes([0.5, NaN]) }).slice().buffer,
    );
    expect(exact.exact).toBe(true);
    expect(Array.from(exact.x)).toEqual([0, 1]);
    expect(Number.isNaN(exact.y[1])).toBe(true);
    const counts = new Uint8Array(new BigInt64Array([BigInt(600), BigInt(400)]).buffer);
    const sampled = decodeBuckets(
      encode({
        exact: false,
        count: counts,
        first_step: bytes([0, 600]),
        first_value: bytes([1, 1]),
        min_step: bytes([5, 700]),
        min_value: bytes([0, 0]),
        max_step: bytes([6, 800]),
        max_value: bytes([3, 3]),
        last_step: bytes([599, 999]),
        last_value: bytes([1, 1]),
      }).slice().buffer,
    );
    expect(sampled.exact).toBe(false);
    expect(sampled.total).toBe(1000);
    expect(Array.from(sampled.x)).toEqual([5, 6, 700, 800]);
  });

  it("appends only points after the last step", () => {
    const view = { x: new Float64Array([0, 1]), y: new Float64Array([5, 6]), t: null, exact: true, total: 2 };
    const next = appendPoints(view, [1, 2, 3], [6, 7, 8], [0, 0, 0]);
    expect(Array.from(next.x)).toEqual([0, 1, 2, 3]);
    expect(next.total).toBe(4);
  });

  it("smooths with a debiased moving average", () => {
    const y = smooth(new Float64Array([1, 1, 1]), 0.9);
    expect(Array.from(y).map((v) => Number(v.toFixed(6)))).toEqual([1, 1, 1]);
    expect(smooth(new Float64Array([1, 2]), 0)[1]).toBe(2);
  });
});
