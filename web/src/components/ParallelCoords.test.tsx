import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ParallelCoords } from "./ParallelCoords";

afterEach(cleanup);

// Five runs. The plot spans y 30 (top) to 290 (bottom) at the default height, so on the loss axis
// (1 to 5) the runs sit at y 290, 225, 160, 95 and 30. jsdom lays nothing out: a mouse event's
// clientY is its y in the plot.
const axes = [
  { key: "lr", values: [0.001, 0.01, 0.1, 1, null] },
  { key: "loss", values: [1, 2, 3, 4, 5] },
  { key: "optimizer", values: ["adam", "sgd", "adam", "sgd", "adam"] },
];
const labels = ["CAS-1", "CAS-2", "CAS-3", "CAS-4", "CAS-5"];
const colors = labels.map(() => "red");

function plot(highlight: number | null = null) {
  const { container } = render(<ParallelCoords axes={axes} labels={labels} colors={colors} highlight={highlight} />);
  const lines = () => [...container.querySelectorAll("polyline")];
  const brushArea = (key: string) => container.querySelector(`.brush-area[data-axis="${key}"]`) as Element;
  return { container, lines, brushArea };
}

describe("parallel coordinates", () => {
  it("draws a line per run through the axes it has a value on", () => {
    const { lines } = plot();
    expect(lines().map((l) => l.textContent)).toEqual(labels);
    expect(lines()[0].getAttribute("points")?.split(" ")).toHaveLength(3);
    expect(lines()[4].getAttribute("points")?.split(" ")).toHaveLength(2); // no lr
  });

  it("keeps the runs inside a dragged range and greys the others; a click clears it", () => {
    const { container, lines, brushArea } = plot();
    fireEvent.mouseDown(brushArea("loss"), { clientY: 80 });
    fireEvent.mouseMove(brushArea("loss"), { clientY: 170 });
    // While the range is dragged, it is drawn and nothing is filtered yet.
    expect(container.querySelectorAll("rect:not(.brush-area)")).toHaveLength(1);
    expect(screen.getByText("5 of 5 in the brushed ranges")).toBeTruthy();
    fireEvent.mouseUp(brushArea("loss"), { clientY: 170 });
    expect(screen.getByText("2 of 5 in the brushed ranges")).toBeTruthy();
    expect(lines().map((l) => l.getAttribute("data-active"))).toEqual(["0", "0", "1", "1", "0"]);
    expect(lines()[0].getAttribute("stroke")).toBe("#ccc");
    // A second axis narrows it further: adam only.
    fireEvent.mouseDown(brushArea("optimizer"), { clientY: 280 });
    fireEvent.mouseUp(brushArea("optimizer"), { clientY: 300 });
    expect(lines().map((l) => l.getAttribute("data-active"))).toEqual(["0", "0", "1", "0", "0"]);
    fireEvent.mouseDown(brushArea("loss"), { clientY: 100 });
    fireEvent.mouseUp(brushArea("loss"), { clientY: 100 });
    expect(screen.getByText("3 of 5 in the brushed ranges")).toBeTruthy(); // adam: runs 1, 3 and 5
    fireEvent.click(screen.getByText("clear brushes"));
    expect(screen.getByText("5 of 5 in the brushed ranges")).toBeTruthy();
  });

  it("puts an axis of positive numbers on a log scale", () => {
    const { container } = plot();
    const ticks = () => [...container.querySelectorAll("text")].map((t) => t.textContent);
    expect(ticks()).toContain("0.5"); // the middle of 0.001..1, linear
    expect(screen.queryByLabelText("log optimizer")).toBeNull(); // names have no log scale
    fireEvent.click(screen.getByLabelText("log lr"));
    expect(ticks()).toContain("0.0316"); // the middle of 10^-3..10^0
    expect(ticks()).not.toContain("0.5");
  });

  it("draws the highlighted run last and thickest", () => {
    const { lines } = plot(1);
    expect(lines().at(-1)?.textContent).toBe("CAS-2");
    expect(lines().at(-1)?.getAttribute("stroke-width")).toBe("3");
  });
});
