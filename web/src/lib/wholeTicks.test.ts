import { describe, expect, it } from "vitest";
import { WHOLE_INCREMENTS, wholeTickLabels } from "./wholeTicks";

describe("whole-number ticks", () => {
  it("spaces ticks by whole numbers only, from 1 to studies of any size", () => {
    expect(WHOLE_INCREMENTS.slice(0, 6)).toEqual([1, 2, 5, 10, 20, 50]);
    expect(WHOLE_INCREMENTS.every((v) => Number.isInteger(v))).toBe(true);
    expect(Math.max(...WHOLE_INCREMENTS)).toBeGreaterThanOrEqual(1e15);
  });

  it("labels whole ticks and leaves a tick between two trials unlabelled", () => {
    expect(wholeTickLabels([0, 0.5, 1, 1.5, 2])).toEqual(["0", "", "1", "", "2"]);
    expect(wholeTickLabels([1000, 2000])).toEqual(["1,000", "2,000"]);
    expect(wholeTickLabels([-1, 0])).toEqual(["-1", "0"]);
  });
});
