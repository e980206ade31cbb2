import { describe, expect, it } from "vitest";
import { queryParams, runsQueryOf } from "./runsPage";

describe("queryParams", () => {
  it("writes a query into a link that runsQueryOf reads back the same", () => {
    const q = { query: 'sys/name matches "resnet"', sortBy: "score", ascending: true, trash: true };
    const read = runsQueryOf("team/cassava", queryParams(q));
    expect({ query: read.query, sortBy: read.sortBy, ascending: read.ascending, trash: read.trash }).toEqual(q);
  });

  it("leaves out what is the default, so the link stays short", () => {
    expect(queryParams({ query: "", sortBy: "sys/creation_time", ascending: false, trash: false }).toString()).toBe("");
  });
});
