import { describe, expect, it } from "vitest";
import { applyCompletion, errorPosition, inString, suggest, wordAt } from "./completion";

const paths = ["parameters/lr", "parameters/optimizer", "train/loss", "val/loss", "sys/tags"];

describe("query completion", () => {
  it("finds the word under the caret", () => {
    expect(wordAt("train/lo > 1", 8)).toEqual({ start: 0, end: 8, prefix: "train/lo" });
    expect(wordAt("a > 1 and par", 13).prefix).toBe("par");
  });

  it("suggests paths that start with the prefix before those that contain it", () => {
    expect(suggest("loss", paths)).toEqual(["train/loss", "val/loss"]);
    expect(suggest("param", paths)).toEqual(["parameters/lr", "parameters/optimizer"]);
    expect(suggest("an", paths)).toContain("and");
    expect(suggest("", paths)).toEqual([]);
  });

  it("replaces the word and puts the caret after it", () => {
    expect(applyCompletion("train/lo > 1", 8, "train/loss")).toEqual({ text: "train/loss > 1", caret: 11 });
    expect(applyCompletion("mi", 2, "min(")).toEqual({ text: "min(", caret: 4 });
  });

  it("does not complete inside a string", () => {
    expect(inString('sys/tags contains "tr', 21)).toBe(true);
    expect(inString('sys/tags contains "x" and tr', 28)).toBe(false);
  });

  it("reads the position out of the server's error", () => {
    expect(errorPosition("expected a value, found '>' at position 4\n  a >> 3")).toBe(3);
    expect(errorPosition("unknown field")).toBeNull();
  });
});
