/**
 * Payloads of the request/response frames (frame.ts), and the caller's table of requests in flight.
 * request: varint id | varint method length | method (UTF-8) | body (the rest)
 * response: varint id | u8 status | body (status ok) or UTF-8 error text (status error)
 */
import { assert } from "../util/assert.js";
import { Reader, varintBytes, Writer } from "./codec.js";
import { CodecError } from "./errors.js";
import { FRAME_HEADER_BYTES, FrameType, writeFrameHeader } from "./frame.js";

export const METHOD_BYTES_MAX = 256;
const STATUS_OK = 0;
const STATUS_ERROR = 1;
const utf8 = new TextEncoder();
const utf8Lenient = new TextDecoder();

/** A complete request frame (header included). */
export function requestFrame(id: number, method: string, body: Uint8Array): Uint8Array {
  const m = utf8.encode(method);
  assert(
    m.length > 0 && m.length <= METHOD_BYTES_MAX,
    `method "${method}" must be 1 to ${METHOD_BYTES_MAX} bytes`,
  );
  const payload = varintBytes(id) + varintBytes(m.length) + m.length + body.length;
  const w = new Writer(new Uint8Array(FRAME_HEADER_BYTES + payload));
  writeFrameHeader(w.buf, 0, FrameType.request, payload);
  w.pos = FRAME_HEADER_BYTES;
  w.varint(id);
  w.varint(m.length);
  w.bytes(m);
  w.bytes(body);
  return w.buf;
}

export function decodeRequest(payload: Uint8Array): { id: number; method: string; body: Uint8Array } {
  const r = new Reader(payload);
  const id = r.varint("request id");
  const method = r.string("method");
  if (method.length === 0 || method.length > METHOD_BYTES_MAX)
    throw new CodecError("cannot decode request: bad method");
  return { id, method, body: r.bytes(r.remaining, "request body") };
}

/**
 * A complete response frame, in two parts: the header (frame header, id, status) and the body itself, which is
 * not copied (a 4 MiB blob chunk goes out as it was read: turn-writer.ts writes the parts with one writev).
 */
export function responseFrame(
  id: number,
  result: { ok: Uint8Array } | { error: string },
): readonly [Uint8Array, Uint8Array] {
  const body = "ok" in result ? result.ok : utf8.encode(result.error);
  const headBytes = varintBytes(id) + 1;
  const w = new Writer(new Uint8Array(FRAME_HEADER_BYTES + headBytes));
  writeFrameHeader(w.buf, 0, FrameType.response, headBytes + body.length);
  w.pos = FRAME_HEADER_BYTES;
  w.varint(id);
  w.u8("ok" in result ? STATUS_OK : STATUS_ERROR);
  return [w.buf, body];
}

export type Response = { id: number; ok: Uint8Array } | { id: number; error: string };

export function decodeResponse(payload: Uint8Array): Response {
  const r = new Reader(payload);
  const id = r.varint("response id");
  const status = r.u8("response status");
  const body = r.bytes(r.remaining, "response body");
  if (status === STATUS_OK) return { id, ok: body };
  if (status === STATUS_ERROR) return { id, error: utf8Lenient.decode(body) };
  throw new CodecError(`cannot decode response: unknown status ${status}`);
}
