/** Helpers for src/http's tests: call the pure handler in memory and read responses as text. */
import type { ServerApi } from "../server/api.js";
import { BodyTooLargeError, type HttpRequest, type HttpResponse, memoryRequest } from "./model.js";
import { handle } from "./router.js";

export function call(
  api: ServerApi,
  method: string,
  target: string,
  body?: string | Uint8Array,
): Promise<HttpResponse> {
  return handle(memoryRequest(method, target, body === undefined ? {} : { body }), api);
}

export function text(res: HttpResponse): string {
  return typeof res.body === "string" ? res.body : Buffer.from(res.body).toString("utf8");
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
