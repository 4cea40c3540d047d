// What each role may do (DESIGN.md section 7). One table: a role expands to a set of
// permissions; a key may instead (or also) list permissions of its own.

export const PERMISSIONS = [
  "certificate:read",
  "certificate:write",
  "file:read",
  "file:write",
  "job:read",
  "agent:read",
  "agent:write",
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export type Role = "read" | "write" | "admin";

export const ROLES: readonly Role[] = ["read", "write", "admin"];

const READ: readonly Permission[] = ["certificate:read", "file:read", "job:read", "agent:read"];
const WRITE: readonly Permission[] = [...READ, "certificate:write", "file:write"];
const ADMIN: readonly Permission[] = [...WRITE, "agent:write"];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  read: READ,
  write: WRITE,
  admin: ADMIN,
};

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

export function isPermission(value: unknown): value is Permission {
  return typeof value === "string" && (PERMISSIONS as readonly string[]).includes(value);
}

/** The permissions a grant holds: its role's, plus any it lists itself. */
export function grantedPermissions(grant: { role?: Role; permissions?: readonly Permission[] }): ReadonlySet<Permission> {
  const granted = new Set<Permission>(grant.role ? ROLE_PERMISSIONS[grant.role] : []);
  for (const permission of grant.permissions ?? []) granted.add(permission);
  return granted;
}
