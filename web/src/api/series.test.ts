import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { appendPoints, bucketsBodyToView, decodeBuckets, smooth } from "./series";

const bytes = (values: number[]) => new Uint8Array(new Float64Array(values).buffer);

describe("series for charts", () => {
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

  it("decodes the server's msgpack (exact, and the drawn line)", () => {
    const exact = decodeBuckets(
      encode({ exact: true, steps: bytes([0, 1]), timestamps: bytes([10, 11]), values: bytes([0.5, NaN]) }).slice().buffer,
    );
    expect(exact.exact).toBe(true);
    expect(Array.from(exact.x)).toEqual([0, 1]);
    expect(Number.isNaN(exact.y[1])).toBe(true);
    const drawn = decodeBuckets(encode({ exact: false, total: 1000, x: bytes([5, 6, 700, 800]), y: bytes([0, 3, 0, 3]) }).slice().buffer);
    expect(drawn.exact).toBe(false);
    expect(drawn.total).toBe(1000);
    expect(Array.from(drawn.x)).toEqual([5, 6, 700, 800]);
  });

  it("refuses bucket arrays: the charts ask for the line (form=line)", () => {
    expect(() => bucketsBodyToView({ exact: false, count: new Uint8Array(8), min_step: bytes([1]) })).toThrow(/buckets, not as the line/);
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
