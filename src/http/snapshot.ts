/**
 * /v1/snapshot (Consul's agent/snapshot_endpoint.go): GET streams an archive, PUT restores one from the
 * request body as it arrives. Neither side holds an archive in memory; the codec and the server spool to
 * disk where they must.
 */
import type { QueryMeta } from "../api/types.js";
import { guard } from "./acl-guard.js";
import { HttpError } from "./errors.js";
import { emptyResponse, type Handler, type HttpResponse } from "./model.js";
import { checkDatacenter, has } from "./params.js";

/** Go's http.DetectContentType of a gzip stream: Consul sets no type, so this is what its clients get. */
export const SNAPSHOT_CONTENT_TYPE = "application/x-gzip";

/** The archive's expected size in bytes (cairn only; absent when the server cannot tell before streaming). */
export const SNAPSHOT_SIZE_HEADER = "X-Cairn-Snapshot-Size";

/** The three headers Consul's snapshot endpoint sets before the body (no Effective-Consistency there). */
function snapshotHeaders(meta: QueryMeta): Record<string, string> {
  return {
    "Content-Type": SNAPSHOT_CONTENT_TYPE,
    "X-Consul-Index": String(Math.max(1, meta.index)),
    "X-Consul-KnownLeader": meta.knownLeader ? "true" : "false",
    "X-Consul-LastContact": String(Math.max(0, Math.floor(meta.lastContactMs))),
  };
}

/** The first chunk and an iterable of the whole stream from it on, so nothing is read twice. */
async function firstChunk(
  archive: AsyncIterable<Uint8Array>,
): Promise<{ readonly rest: AsyncIterable<Uint8Array> }> {
  const it = archive[Symbol.asyncIterator]();
  const first = await it.next();
  async function* rest(): AsyncGenerator<Uint8Array> {
    try {
      if (first.done === true) return;
      yield first.value;
      for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value;
    } finally {
      // The client left, or a write failed: let the producer release its snapshot view.
      await it.return?.();
    }
  }
  return { rest: rest() };
}

/**
 * GET: default is consistent (the leader confirms leadership first), `?stale` lets this server answer from
 * its own state. The first chunk is pulled before the status goes out, so a failure that comes before any
 * archive byte is still an ordinary error response (500 `No cluster leader`); after that the body streams.
 */
export const snapshotSave: Handler = async (req, api): Promise<HttpResponse> => {
  const stale = has(req.query, "stale");
  checkDatacenter(req.query, api);
  // An archive holds every secret, ACL tokens included: Consul's SnapshotAllowed asks for acl:write.
  (await guard(req, api)).require("acl", "write", "");
  const { meta, archive, bytesEstimate } = await api.snapshotSave(stale);
  const { rest } = await firstChunk(archive);
  const headers = snapshotHeaders(meta);
  // cairn's own: lets `cairn snapshot save` show an ETA; Consul's clients ignore unknown headers.
  if (bytesEstimate !== undefined && bytesEstimate > 0) headers[SNAPSHOT_SIZE_HEADER] = String(bytesEstimate);
  return { status: 200, headers, body: { stream: rest } };
};

/**
 * PUT: the body streams into the server, which verifies the whole archive before it changes anything. A bad
 * archive is a 500 with the reader's text, as Consul answers the restore RPC's error (snapshot_endpoint.go).
 */
export const snapshotRestore: Handler = async (req, api): Promise<HttpResponse> => {
  // Consul's server refuses this before reading the archive, as a plain error: a 500
  // (agent/consul/snapshot_endpoint.go dispatchSnapshotRequest).
  if (has(req.query, "stale")) throw new HttpError(500, "stale not allowed for restore");
  checkDatacenter(req.query, api);
  (await guard(req, api)).require("acl", "write", "");
  await api.snapshotRestore(req.stream());
  return emptyResponse(200);
};
