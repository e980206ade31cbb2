import { describe, expect, it } from "vitest";
import { BASE_COLUMNS, queryParams, runsQueryOf, tableUrl } from "./runsPage";

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

describe("tableUrl", () => {
  it("names the page's project, query, columns, order, size and cursor, as the server reads them", () => {
    const q = { project: "team/cassava", query: 'p/lr > 0.1 and sys/name matches "a b"', columns: ["p/lr", "m/acc"], sortBy: "m/acc", ascending: true, trash: false };
    const url = new URL(tableUrl(q, 500, "cur/sor=&x"), "http://localhost");
    expect(url.pathname).toBe("/api/v1/projects/team/cassava/table");
    expect(url.searchParams.get("query")).toBe('(p/lr > 0.1 and sys/name matches "a b") and not sys/trashed = true');
    expect(url.searchParams.getAll("columns")).toEqual([...BASE_COLUMNS, "p/lr", "m/acc"]);
    expect(url.searchParams.get("sort_by")).toBe("m/acc");
    expect(url.searchParams.get("ascending")).toBe("true");
    expect(url.searchParams.get("limit")).toBe("500");
    expect(url.searchParams.get("cursor")).toBe("cur/sor=&x");
  });

  it("leaves out the columns for every field, and the cursor of a first page", () => {
    const url = new URL(tableUrl({ project: "a b/c", query: "", columns: null, sortBy: "sys/creation_time", ascending: false, trash: true }, 100), "http://localhost");
    expect(url.pathname).toBe("/api/v1/projects/a%20b/c/table");
    expect([...url.searchParams.keys()].sort()).toEqual(["ascending", "limit", "query", "sort_by"]);
    expect(url.searchParams.get("query")).toBe("sys/trashed = true");
  });
});
