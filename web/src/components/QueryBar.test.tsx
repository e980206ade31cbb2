import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { QueryBar } from "./QueryBar";

afterEach(cleanup);

describe("QueryBar", () => {
  it("completes field paths and runs the query on Enter", () => {
    const onSubmit = vi.fn();
    render(<QueryBar value="" paths={["parameters/lr", "train/loss"]} error={null} onSubmit={onSubmit} />);
    const input = screen.getByLabelText("query") as HTMLInputElement;
    fireEvent.change(input, { target: { value: "param", selectionStart: 5 } });
    expect(screen.getByRole("option").textContent).toBe("parameters/lr");
    fireEvent.keyDown(input, { key: "Tab" });
    expect(input.value).toBe("parameters/lr ");
    fireEvent.change(input, { target: { value: "parameters/lr < 0.1", selectionStart: 19 } });
    fireEvent.keyDown(input, { key: "Escape" });
    fireEvent.keyDown(input, { key: "Enter" });
    expect(onSubmit).toHaveBeenCalledWith("parameters/lr < 0.1");
  });

  it("shows the server's syntax error where it points", () => {
    render(
      <QueryBar
        value="a >> 3"
        paths={[]}
        error={"expected a value, found '>' at position 4\n  a >> 3\n     ^"}
        onSubmit={() => undefined}
      />,
    );
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("expected a value, found '>' at position 4");
    expect(alert.querySelector("mark")?.textContent).toBe(">");
  });

  it("says when it is focused, before anything is typed (the page then reads the paths it completes)", () => {
    const onFocus = vi.fn();
    render(<QueryBar value="" paths={[]} error={null} onSubmit={() => undefined} onFocus={onFocus} />);
    expect(onFocus).not.toHaveBeenCalled();
    fireEvent.focus(screen.getByLabelText("query"));
    expect(onFocus).toHaveBeenCalledTimes(1);
  });
});
