// Who the browser is, and what they may do in a project: the page offers only what the server would
// allow (it checks again: this only spares a button that would answer 403).
import { useQuery } from "@tanstack/react-query";
import { api, projectParams, setCsrfToken } from "./client";

export interface Me {
  username: string;
  is_admin: boolean;
  via: string;
  csrf_token?: string | null;
}

/** Who the browser is: null when the server wants a login first. */
export function useMe() {
  return useQuery({
    queryKey: ["me"],
    queryFn: async (): Promise<Me | null> => {
      const { data, response } = await api.GET("/api/v1/auth/me");
      if (response.status === 401) return null;
      if (!response.ok || !data) throw new Error(`the server answered ${response.status} to /auth/me`);
      setCsrfToken(data.csrf_token);
      return data as Me;
    },
    staleTime: Infinity,
  });
}

export type Role = "viewer" | "contributor" | "owner";
const RANK: Record<Role, number> = { viewer: 0, contributor: 1, owner: 2 };

interface Member {
  username: string;
  role: Role;
}

/** A user's role on a project, from the project's members: admins own every project. */
export function roleOf(me: Me, members: Member[]): Role | null {
  if (me.is_admin) return "owner";
  return members.find((m) => m.username === me.username)?.role ?? null;
}

/** The browser's role on `project`; undefined while it is not known (nothing is hidden then). */
export function useProjectRole(project: string): Role | null | undefined {
  const me = useMe();
  const asked = !!me.data && !me.data.is_admin;
  const members = useQuery({
    queryKey: ["members", project],
    enabled: asked,
    queryFn: async (): Promise<Member[]> => {
      const { data, response } = await api.GET("/api/v1/projects/{workspace}/{project}/members", {
        params: { path: projectParams(project) },
      });
      if (!response.ok || !data) throw new Error(`the server answered ${response.status} to /members`);
      return data as Member[];
    },
    staleTime: 60_000,
  });
  if (!me.data) return undefined;
  if (me.data.is_admin) return "owner";
  return members.data ? roleOf(me.data, members.data) : undefined;
}

/** Whether a role allows what needs `needed`; an unknown role allows it (the server decides). */
export function allows(role: Role | null | undefined, needed: Role): boolean {
  if (role === undefined) return true;
  return role !== null && RANK[role] >= RANK[needed];
}
