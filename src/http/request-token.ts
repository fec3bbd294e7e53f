/**
 * The ACL token a request carries, as Consul's agent/http.go parseTokenInternal takes it (consul-compat.md §4.1):
 * `?token=`, else the `X-Consul-Token` header, else `Authorization: Bearer <token>` (scheme in any case, the
 * first word after it). "" when none: the caller falls back to the agent's default token, then anonymous.
 */
import type { HttpRequest } from "./model.js";

export function requestToken(req: HttpRequest): string {
  const q = req.query.get("token");
  if (q !== null && q !== "") return q;
  const header = req.headers("x-consul-token");
  if (header !== undefined && header !== "") return header;
  const auth = req.headers("authorization");
  if (auth !== undefined) {
    const [scheme, value] = auth.trim().split(/\s+/, 2);
    if (scheme !== undefined && scheme.toLowerCase() === "bearer" && value !== undefined) return value;
  }
  return "";
}
