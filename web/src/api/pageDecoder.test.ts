import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./client";
import { fetchPageOffThread } from "./pageDecoder";
import { RowPage } from "./rowPage";

afterEach(() => vi.unstubAllGlobals());

function answering(status: number, body: unknown) {
  const fetch = vi.fn(async () => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } }));
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

describe("fetchPageOffThread", () => {
  it("reads and decodes a /table answer where no worker can start (here: jsdom), rows and cursor", async () => {
    const fetch = answering(200, {
      rows: [
        { "sys/id": ["string", "CAS-1"], "p/lr": ["float", 0.1] },
        { "sys/id": ["string", "CAS-2"], "p/lr": ["float", { $float: "Infinity" }] },
      ],
      next_cursor: "abc",
    });
    const { page, next } = await fetchPageOffThread("/api/v1/projects/team/cassava/table?limit=2");
    expect(fetch).toHaveBeenCalledWith("/api/v1/projects/team/cassava/table?limit=2", { credentials: "same-origin" });
    const rows = new RowPage(page).rows();
    expect(rows.map((r) => [r.id, r.value("p/lr")])).toEqual([
      ["CAS-1", 0.1],
      ["CAS-2", Infinity],
    ]);
    expect(next).toBe("abc");
  });

  it("rejects with the server's status and detail when the server refuses the page", async () => {
    answering(422, { detail: "unknown field: p/nope" });
    const failed = fetchPageOffThread("/api/v1/projects/team/cassava/table?query=p%2Fnope");
    await expect(failed).rejects.toBeInstanceOf(ApiError);
    await expect(failed).rejects.toMatchObject({ status: 422, detail: "unknown field: p/nope" });
  });

  it("rejects with what failed when the request cannot be made", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(fetchPageOffThread("/api/v1/projects/team/cassava/table")).rejects.toMatchObject({
      status: 0,
      detail: "runs page: Failed to fetch",
    });
  });
});
