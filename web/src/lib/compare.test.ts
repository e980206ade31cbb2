import { describe, expect, it } from "vitest";
import type { Row, Value } from "../api/wire";
import { differingPaths, legendLabel, parameterPaths } from "./compare";

function run(id: string, fields: Record<string, [string, Value]>): Row {
  const row: Row = { "sys/id": { path: "sys/id", type: "string", value: id } };
  for (const [path, [type, value]] of Object.entries(fields)) row[path] = { path, type, value };
  return row;
}

describe("what a comparison shows", () => {
  const runs = [
    run("CAS-1", { lr: ["float", 0.1], opt: ["string", "sgd"], seed: ["int", 1] }),
    run("CAS-2", { lr: ["float", 0.01], opt: ["string", "sgd"], seed: ["int", 1] }),
    run("CAS-3", { lr: ["float", 0.1], opt: ["string", "sgd"] }),
  ];

  it("finds the paths whose values are not all the same, a missing value counting as one", () => {
    expect(differingPaths(runs, ["lr", "opt", "seed", "absent"])).toEqual(["lr", "seed"]);
    // The first run differing from the others, or the last from the first, both count.
    expect(differingPaths([runs[1], runs[0], runs[0]], ["lr"])).toEqual(["lr"]);
    expect(differingPaths([runs[0], runs[0], runs[1]], ["lr"])).toEqual(["lr"]);
    expect(differingPaths([runs[0]], ["lr", "opt"])).toEqual([]);
    // Values compare as a table shows them: 0.1 and 0.1000000001 are one value there.
    const close = run("CAS-4", { lr: ["float", 0.1000000001] });
    expect(differingPaths([runs[0], close], ["lr"])).toEqual([]);
  });

  it("names each run by the parameters that tell it apart", () => {
    expect(parameterPaths(runs)).toEqual(["lr", "opt", "seed"]);
    const differing = differingPaths(runs, parameterPaths(runs));
    expect(runs.map((r) => legendLabel(r, differing))).toEqual([
      "CAS-1 · lr=0.1 · seed=1",
      "CAS-2 · lr=0.01 · seed=1",
      "CAS-3 · lr=0.1 · seed=—",
    ]);
  });
});
