/** Helpers for src/http's tests: call the pure handler in memory and read responses as text. */
import type { ServerApi } from "../api/types.js";
import type { LocalAgent } from "../local/state.js";
import {
  BodyTooLargeError,
  type HttpRequest,
  type HttpResponse,
  isStreamBody,
  memoryRequest,
} from "./model.js";
import { handle } from "./router.js";

export function call(
  api: ServerApi,
  method: string,
  target: string,
  body?: string | Uint8Array,
  local?: LocalAgent,
): Promise<HttpResponse> {
  return handle(memoryRequest(method, target, body === undefined ? {} : { body }), api, local);
}

export function text(res: HttpResponse): string {
  if (isStreamBody(res.body)) throw new Error("text(): a streamed body; use bytes()");
  return typeof res.body === "string" ? res.body : Buffer.from(res.body).toString("utf8");
}

/** The whole body, a streamed one included (drained). */
export async function bytes(res: HttpResponse): Promise<Buffer> {
  const b = res.body;
  if (!isStreamBody(b)) return Buffer.from(typeof b === "string" ? Buffer.from(b, "utf8") : b);
  const chunks: Buffer[] = [];
  for await (const c of b.stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** A request whose body arrives without Content-Length (chunked), in the given pieces. */
export function chunkedRequest(method: string, target: string, chunks: readonly Uint8Array[]): HttpRequest {
  const base = memoryRequest(method, target);
  return {
    ...base,
    headers: (name) => (name.toLowerCase() === "transfer-encoding" ? "chunked" : undefined),
    body: async (bytesMax = Number.POSITIVE_INFINITY) => {
      let n = 0;
      for (const c of chunks) {
        n += c.length;
        if (n > bytesMax) throw new BodyTooLargeError(n, bytesMax);
      }
      return Buffer.concat(chunks);
    },
  };
}
