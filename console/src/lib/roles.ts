// What a key may see in the console, from its scopes (docs/access.md). The
// server enforces every rule; this only keeps people away from pages that
// would answer 403.

export interface NavItem {
  to: string;
  label: string;
  /** The scope the page needs. */
  scope: string;
}

export const NAV: NavItem[] = [
  { to: "/", label: "Overview", scope: "read" },
  { to: "/search", label: "Search", scope: "read" },
  { to: "/agents", label: "Agents", scope: "agents:read" },
  { to: "/keys", label: "Keys & access", scope: "keys:read" },
  { to: "/evidence", label: "Evidence", scope: "export" },
  { to: "/log", label: "Log", scope: "proofs" },
  { to: "/verify", label: "Verify a bundle", scope: "" },
];

export function navFor(scopes: readonly string[]): NavItem[] {
  return NAV.filter((n) => n.scope === "" || scopes.includes(n.scope));
}

export function can(scopes: readonly string[], scope: string): boolean {
  return scopes.includes(scope);
}
