import { describe, expect, it } from "vitest";
import { decimalsOf, formatTick, numberTickLabels } from "./numberTicks";

describe("number tick labels", () => {
  it("counts the decimals a spacing needs, ignoring float noise", () => {
    expect(decimalsOf(2.5e-4)).toBe(5);
    expect(decimalsOf(0.0005)).toBe(4);
    expect(decimalsOf(0.1 + 0.2)).toBe(1);
    expect(decimalsOf(20)).toBe(0);
    expect(decimalsOf(0)).toBe(0);
  });

  it("tells apart ticks closer than a thousandth", () => {
    // What uPlot's own labels gave: 0.691, 0.692, 0.692, 0.692.
    const labels = numberTickLabels([0.6915, 0.692, 0.6925, 0.693], 0.0005, false);
    expect(labels).toEqual(["0.6915", "0.6920", "0.6925", "0.6930"]);
    expect(new Set(labels).size).toBe(4);
  });

  it("gives each tick of a log axis its own decimals", () => {
    expect(numberTickLabels([0.0001, 0.001, 0.01, 0.1, 1, 10], 10, true)).toEqual(["0.0001", "0.001", "0.01", "0.1", "1", "10"]);
  });

  it("writes big and tiny numbers with an exponent, large ones grouped, and no -0", () => {
    expect(formatTick(1e-7, decimalsOf(1e-7))).toBe("1e-7");
    expect(formatTick(2.5e15, 0)).toBe("2.5e+15");
    expect(numberTickLabels([0, 5000, 10000], 5000, false)).toEqual(["0", "5,000", "10,000"]);
    expect(formatTick(-0, 2)).toBe("0");
    expect(numberTickLabels([-0.5, null, 0.5], 0.5, false)).toEqual(["-0.5", "", "0.5"]);
  });
});
