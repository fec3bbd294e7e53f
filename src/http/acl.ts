/**
 * /v1/acl/*: bootstrap, tokens and policies as Consul's agent/acl_endpoint.go serves them (consul-compat.md §4),
 * over the ServerApi's `acl`. Reads block on the ACL tables and answer with their index.
 *
 * Permissions: every route below needs `acl:read` (reads) or `acl:write` (writes) except bootstrap and
 * token/self, as in Consul; ACL_ROUTE_ACCESS lists them for the enforcer, which asks the authorizer before a
 * handler runs (the lead's glue in router.ts). Nothing here decides a permission.
 */
import type { AclTokenRecord } from "../api/acl-types.js";
import type { ServerApi } from "../api/types.js";
import { guard } from "./acl-guard.js";
import {
  parseCloneDescription,
  parsePolicyRequest,
  parseTokenRequest,
  policyJson,
  policyStubJson,
  tokenJson,
  tokenStubJson,
} from "./acl-json.js";
import { HttpError } from "./errors.js";
import type { Handler, HttpRequest, HttpResponse, RouteContext } from "./model.js";
import { checkDatacenter, parseQueryOptions } from "./params.js";
import { requestToken } from "./request-token.js";
import { jsonResponse, metaHeaders } from "./respond.js";

/** Token and policy bodies are small; this bounds what a client can make the agent hold. */
const BODY_BYTES_MAX = 1024 * 1024;

/** The access each ACL route needs, for the enforcer: none for bootstrap and token/self (the secret is the proof). */
export const ACL_ROUTE_ACCESS: Readonly<Record<string, "none" | "read" | "write">> = {
  "PUT /v1/acl/bootstrap": "none",
  "GET /v1/acl/token/self": "none",
  "GET /v1/acl/token/": "read",
  "GET /v1/acl/tokens": "read",
  "GET /v1/acl/policy/": "read",
  "GET /v1/acl/policy/name/": "read",
  "GET /v1/acl/policies": "read",
  "PUT /v1/acl/token": "write",
  "PUT /v1/acl/token/": "write",
  "DELETE /v1/acl/token/": "write",
  "PUT /v1/acl/policy": "write",
  "PUT /v1/acl/policy/": "write",
  "DELETE /v1/acl/policy/": "write",
};

export async function aclBootstrap(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  checkDatacenter(req.query, api);
  const t = await api.acl.aclBootstrap();
  // aclBootstrapResponse: the legacy ID (the secret) first, then the token.
  return jsonResponse(req, { ID: t.SecretID, ...tokenJson(t) });
}

export async function aclTokenCreate(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const body = parseTokenRequest(await req.body(BODY_BYTES_MAX));
  checkDatacenter(req.query, api);
  return jsonResponse(req, tokenJson(await api.acl.aclTokenCreate(body)));
}

export async function aclTokenSelf(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const q = parseQueryOptions(req.query);
  checkDatacenter(req.query, api);
  const secret = requestToken(req) || (api.acl.aclSettings().tokens.default ?? "");
  const { meta, value } = await api.acl.aclTokenSelf(secret, q);
  return jsonResponse(req, tokenJson(value), metaHeaders(meta));
}

export async function aclTokenList(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const q = parseQueryOptions(req.query);
  checkDatacenter(req.query, api);
  const { meta, value } = await api.acl.aclTokenList(req.query.get("policy") ?? "", q);
  const shown = await secretsShown(req, api);
  return jsonResponse(
    req,
    value.map((t) => tokenStubJson(shown(t))),
    metaHeaders(meta),
  );
}

/** Consul's redactedToken: what a reader without acl:write sees of another token's SecretID. */
export const REDACTED_SECRET = "<hidden>";

/**
 * Tokens as a reader may see them: Consul shows SecretIDs only to a token with acl:write (its ACL filter's
 * redactTokenSecret); with acl:read alone they read `<hidden>`.
 */
async function secretsShown(
  req: HttpRequest,
  api: ServerApi,
): Promise<(t: AclTokenRecord) => AclTokenRecord> {
  const acl = await guard(req, api);
  if (acl.allows("acl", "write", "")) return (t) => t;
  return (t) => ({ ...t, SecretID: REDACTED_SECRET });
}

const CLONE = "/clone";

/** GET|PUT|DELETE /v1/acl/token/<accessor>, PUT /v1/acl/token/<accessor>/clone. */
async function tokenCrud(req: HttpRequest, api: ServerApi, ctx: RouteContext): Promise<HttpResponse> {
  if (req.method === "PUT" && ctx.rest.endsWith(CLONE)) {
    const accessor = ctx.rest.slice(0, -CLONE.length);
    const description = parseCloneDescription(await req.body(BODY_BYTES_MAX));
    checkDatacenter(req.query, api);
    return jsonResponse(req, tokenJson(await api.acl.aclTokenClone(accessor, description)));
  }
  const accessor = ctx.rest;
  if (accessor === "") throw new HttpError(400, "Missing token AccessorID");
  if (req.method === "GET") {
    const q = parseQueryOptions(req.query);
    checkDatacenter(req.query, api);
    const { meta, value } = await api.acl.aclTokenRead(accessor, q);
    return jsonResponse(req, tokenJson((await secretsShown(req, api))(value)), metaHeaders(meta));
  }
  if (req.method === "PUT") {
    const body = parseTokenRequest(await req.body(BODY_BYTES_MAX));
    checkDatacenter(req.query, api);
    return jsonResponse(req, tokenJson(await api.acl.aclTokenUpdate(accessor, body)));
  }
  checkDatacenter(req.query, api);
  await api.acl.aclTokenDelete(accessor, requestToken(req));
  return jsonResponse(req, true);
}

export const aclTokenEndpoint: Readonly<Record<string, Handler>> = {
  GET: tokenCrud,
  PUT: tokenCrud,
  DELETE: tokenCrud,
};

export async function aclPolicyCreate(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const body = parsePolicyRequest(await req.body(BODY_BYTES_MAX));
  checkDatacenter(req.query, api);
  return jsonResponse(req, policyJson(await api.acl.aclPolicyCreate(body)));
}

async function policyCrud(req: HttpRequest, api: ServerApi, ctx: RouteContext): Promise<HttpResponse> {
  const id = ctx.rest;
  if (id === "") throw new HttpError(400, "Missing policy ID");
  if (req.method === "GET") {
    const q = parseQueryOptions(req.query);
    checkDatacenter(req.query, api);
    const { meta, value } = await api.acl.aclPolicyRead(id, q);
    return jsonResponse(req, policyJson(value), metaHeaders(meta));
  }
  if (req.method === "PUT") {
    const body = parsePolicyRequest(await req.body(BODY_BYTES_MAX));
    checkDatacenter(req.query, api);
    return jsonResponse(req, policyJson(await api.acl.aclPolicyUpdate(id, body)));
  }
  checkDatacenter(req.query, api);
  await api.acl.aclPolicyDelete(id);
  return jsonResponse(req, true);
}

export const aclPolicyEndpoint: Readonly<Record<string, Handler>> = {
  GET: policyCrud,
  PUT: policyCrud,
  DELETE: policyCrud,
};

export async function aclPolicyByName(
  req: HttpRequest,
  api: ServerApi,
  ctx: RouteContext,
): Promise<HttpResponse> {
  if (ctx.rest === "") throw new HttpError(400, "Missing policy Name");
  const q = parseQueryOptions(req.query);
  checkDatacenter(req.query, api);
  const { meta, value } = await api.acl.aclPolicyReadByName(ctx.rest, q);
  return jsonResponse(req, policyJson(value), metaHeaders(meta));
}

export async function aclPolicyList(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const q = parseQueryOptions(req.query);
  checkDatacenter(req.query, api);
  const { meta, value } = await api.acl.aclPolicyList(q);
  return jsonResponse(req, value.map(policyStubJson), metaHeaders(meta));
}
