import { describe, expect, it } from "vitest";
import { allows, roleOf } from "./access";

const me = (username: string, is_admin = false) => ({ username, is_admin, via: "session" });
const members = [
  { username: "olga", role: "owner" as const },
  { username: "li", role: "contributor" as const },
  { username: "vera", role: "viewer" as const },
];

describe("what a user may do in a project", () => {
  it("reads the user's role from the project's members; an admin owns every project", () => {
    expect(roleOf(me("li"), members)).toBe("contributor");
    expect(roleOf(me("root", true), [])).toBe("owner");
    expect(roleOf(me("stranger"), members)).toBeNull();
  });

  it("allows what the role reaches, and everything while the role is not known", () => {
    expect(allows("owner", "owner")).toBe(true);
    expect(allows("contributor", "owner")).toBe(false);
    expect(allows("contributor", "contributor")).toBe(true);
    expect(allows("viewer", "contributor")).toBe(false);
    expect(allows(null, "viewer")).toBe(false);
    expect(allows(undefined, "owner")).toBe(true); // the server still decides
  });
});
