/**
 * The web UI's static files at /ui/ (docs/ui.md), as a pure handler over an in-memory set of assets that the
 * agent loads once at start (ui-assets.ts). Only names in that set are ever served: a request's path is checked
 * against a strict shape first, so `..`, encoded or not, never reaches a lookup.
 */
import { emptyResponse, type HttpRequest, type HttpResponse, textResponse } from "./model.js";

export interface UiAsset {
  readonly bytes: Uint8Array;
  readonly contentType: string;
  /** A strong validator: a hash of the bytes, quoted as HTTP wants it. */
  readonly etag: string;
}

/** The files the UI serves, by name below /ui/ ("index.html", "vendor/lit-html.js"). */
export type UiAssets = ReadonlyMap<string, UiAsset>;

export const UI_PREFIX = "/ui/";
const INDEX = "index.html";

/**
 * No inline script or style, nothing from another origin: the page talks only to the agent that served it.
 * `img-src data:` is for the inline SVG icons a stylesheet may carry.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": UI_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  // Files keep their names across versions, so a browser revalidates each use (a 304 while the ETag holds).
  "Cache-Control": "no-cache",
};

/** Lower-case segments of letters, digits, `-`, `_` and `.`, never starting with a dot: no `..`, no `%`. */
const ASSET_NAME = /^(?:[a-z0-9_-][a-z0-9_.-]*\/)*[a-z0-9_-][a-z0-9_.-]*$/i;

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  json: "application/json",
};

/** `/` and `/ui` lead to the UI's index, as Consul's agent redirects them. */
export function uiRedirect(): HttpResponse {
  return emptyResponse(301, { Location: UI_PREFIX });
}

/** Whether a decoded path belongs to the UI (the caller then answers with `serveUi`). */
export function isUiPath(path: string): boolean {
  return path === "/ui" || path.startsWith(UI_PREFIX);
}

/** Answers a decoded path under /ui from `assets`; GET and HEAD only. */
export function serveUi(req: HttpRequest, path: string, assets: UiAssets | undefined): HttpResponse {
  if (path === "/ui") return uiRedirect();
  if (req.method !== "GET" && req.method !== "HEAD") {
    return textResponse(405, `method ${req.method} not allowed`, { Allow: "GET,HEAD" });
  }
  const rest = path.slice(UI_PREFIX.length);
  const name = rest === "" ? INDEX : rest;
  if (!ASSET_NAME.test(name)) {
    return textResponse(400, `invalid UI path: ${JSON.stringify(rest)}`);
  }
  const asset = assets?.get(name);
  if (asset === undefined) {
    return textResponse(404, assets === undefined ? "UI not served by this agent" : "UI file not found");
  }
  const headers = { ...SECURITY_HEADERS, "Content-Type": asset.contentType, ETag: asset.etag };
  if (matchesEtag(req.headers("If-None-Match"), asset.etag)) return emptyResponse(304, headers);
  return { status: 200, headers, body: asset.bytes };
}

/** RFC 9110 If-None-Match: `*` or a list of tags, weak ones compared weakly. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
