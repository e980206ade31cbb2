import { describe, expect, it } from "vitest";
import { decodeOffThread } from "./pageDecoder";
import { RowPage } from "./rowPage";

describe("decodeOffThread", () => {
  it("decodes a /table answer where no worker can start (here: jsdom), rows and cursor", async () => {
    const answer = {
      rows: [
        { "sys/id": ["string", "CAS-1"], "p/lr": ["float", 0.1] },
        { "sys/id": ["string", "CAS-2"], "p/lr": ["float", { $float: "Infinity" }] },
      ],
      next_cursor: "abc",
    };
    const body = new TextEncoder().encode(JSON.stringify(answer)).buffer as ArrayBuffer;
    const { page, next } = await decodeOffThread(body);
    const rows = new RowPage(page).rows();
    expect(rows.map((r) => [r.id, r.value("p/lr")])).toEqual([
      ["CAS-1", 0.1],
      ["CAS-2", Infinity],
    ]);
    expect(next).toBe("abc");
  });
});
