import { afterEach, describe, expect, it, vi } from "vitest";

/** A fresh copy of the module (its canvas and memory are module state). */
async function freshTextWidth() {
  vi.resetModules();
  return (await import("./textWidth")).textWidth;
}

async function freshTextFits() {
  vi.resetModules();
  return (await import("./textWidth")).textFits;
}

/** A canvas whose font draws every character `charWidth` pixels wide, recording what it measures. */
function fakeCanvas(charWidth: (font: string) => number, measured: string[]) {
  const fake = {
    font: "",
    measureText(text: string) {
      measured.push(`${this.font}|${text}`);
      return { width: text.length * charWidth(this.font) } as TextMetrics;
    },
  };
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(fake as unknown as CanvasRenderingContext2D);
}

afterEach(() => vi.restoreAllMocks());

describe("textWidth", () => {
  it("counts every text as too wide where there is no 2D canvas", async () => {
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(null);
    const textWidth = await freshTextWidth();
    expect(textWidth("0.01", "14px sans-serif")).toBe(Infinity);
  });

  it("measures in the font asked for, once per text and font", async () => {
    const measured: string[] = [];
    fakeCanvas((font) => (font.startsWith("20px") ? 10 : 7), measured);
    const textWidth = await freshTextWidth();
    expect(textWidth("adam", "14px sans-serif")).toBe(28);
    expect(textWidth("adam", "14px sans-serif")).toBe(28);
    expect(textWidth("0.001", "14px sans-serif")).toBe(35);
    // Another font measures again rather than answering from the first font's widths.
    expect(textWidth("adam", "20px sans-serif")).toBe(40);
    const texts = measured.filter((m) => m.split("|")[1].length > 1); // less the number characters
    expect(texts).toEqual(["14px sans-serif|adam", "14px sans-serif|0.001", "20px sans-serif|adam"]);
  });

  it("tells whether a text fits, and a short number without measuring it", async () => {
    const measured: string[] = [];
    fakeCanvas(() => 8, measured);
    const textFits = await freshTextFits();
    expect(textFits("0.125", "14px sans-serif", 40)).toBe(true); // 5 characters of at most 8 px
    expect(textFits("-1.5e-7", "14px sans-serif", 40)).toBe(false);
    expect(textFits("adam", "14px sans-serif", 32)).toBe(true);
    expect(textFits("adamw", "14px sans-serif", 32)).toBe(false);
    const texts = measured.map((m) => m.split("|")[1]).filter((t) => t.length > 1);
    expect(texts).toEqual(["-1.5e-7", "adam", "adamw"]);
  });

  it("tells nothing fits where there is no canvas", async () => {
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(null);
    const textFits = await freshTextFits();
    expect(textFits("1", "14px sans-serif", 500)).toBe(false);
  });
});
