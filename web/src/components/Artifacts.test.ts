import { describe, expect, it } from "vitest";
import { parseManifest } from "./Artifacts";

describe("tracked-files list", () => {
  it("reads the stored document's file rows", () => {
    const m = parseManifest({
      format: 1,
      hash: "ab".repeat(32),
      notes: ["some hashes are S3 multipart ETags"],
      files: [
        ["images/a.png", 10, "f00d", "sha256", 1700000000.5, "/data/images/a.png"],
        ["b.csv", 3, "beef-2", "s3-etag-multipart", null, "s3://bucket/b.csv"],
      ],
    });
    expect(m.files.map((f) => f.path)).toEqual(["images/a.png", "b.csv"]);
    expect(m.files[0]).toMatchObject({ size: 10, hash: "f00d", hash_type: "sha256", location: "/data/images/a.png" });
    expect(m.files[1].mtime).toBeNull();
    expect(m.notes).toHaveLength(1);
  });

  it("refuses a format it does not know, naming it", () => {
    expect(() => parseManifest({ format: 2, files: [] })).toThrow(/format 2/);
  });
});
