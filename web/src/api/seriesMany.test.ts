import { encode } from "@msgpack/msgpack";
import { describe, expect, it, vi } from "vitest";

const sent: { runIds: string[]; paths: string[] }[] = [];

// The server, as get_many_series_buckets answers: at most 2,000 lines, the rest cut off.
vi.mock("./bucketsAhead", async (original) => ({
  ...(await original<typeof import("./bucketsAhead")>()),
  takeBucketsAhead: () => null,
  requestManyBuckets: async (req: { runIds: string[]; paths: string[] }) => {
    sent.push({ runIds: req.runIds, paths: req.paths });
    const f64 = (values: number[]) => new Uint8Array(new Float64Array(values).buffer);
    const lines = req.paths
      .flatMap((path) => req.runIds.map((runId) => ({ runId, path })))
      .slice(0, 2000)
      .map(({ runId, path }) => ({ run_id: runId, path, exact: true, steps: f64([0]), timestamps: f64([0]), values: f64([Number(runId.slice(2))]) }));
    return encode(lines).slice().buffer;
  },
}));

const { fetchManySeriesViews, lineKey } = await import("./series");

describe("fetchManySeriesViews", () => {
  it("asks for runs in parts the server answers whole: every line of 1,500 runs x 3 charts", async () => {
    const runIds = Array.from({ length: 1500 }, (_, i) => `B-${i}`);
    const paths = ["loss", "acc", "lr"];
    const lines = await fetchManySeriesViews({ project: "a/b", runIds, paths, buckets: 10 });
    expect(sent.map((s) => s.runIds.length)).toEqual([666, 666, 168]);
    expect(lines.size).toBe(4500);
    expect(lines.get(lineKey("B-1499", "lr"))?.y[0]).toBe(1499);
  });
});
