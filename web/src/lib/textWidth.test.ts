import { afterEach, describe, expect, it, vi } from "vitest";

/** A fresh copy of the module (its canvas and memory are module state). */
async function freshTextWidth() {
  vi.resetModules();
  return (await import("./textWidth")).textWidth;
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
    const fake = {
      font: "",
      measureText(text: string) {
        measured.push(`${this.font}|${text}`);
        return { width: text.length * (this.font.startsWith("20px") ? 10 : 7) } as TextMetrics;
      },
    };
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(fake as unknown as CanvasRenderingContext2D);
    const textWidth = await freshTextWidth();
    expect(textWidth("adam", "14px sans-serif")).toBe(28);
    expect(textWidth("adam", "14px sans-serif")).toBe(28);
    expect(textWidth("0.001", "14px sans-serif")).toBe(35);
    // Another font measures again rather than answering from the first font's widths.
    expect(textWidth("adam", "20px sans-serif")).toBe(40);
    expect(measured).toEqual(["14px sans-serif|adam", "14px sans-serif|0.001", "20px sans-serif|adam"]);
  });
});
