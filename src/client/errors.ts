/**
 * Errors a caller of the client handles. Messages are the ones Consul's Go `api` package produces, because
 * the CLI prints them verbatim (`Error querying Consul agent: Unexpected response code: 500 (No cluster leader)`)
 * and operators' scripts match on them.
 */

import { errorText } from "../util/errors.js";
import { CairnError } from "../util/index.js";

/** The server answered with a status the call does not accept (Go's api.StatusError). */
export class ApiError extends CairnError {
  readonly code = "api_status";
  override name = "ApiError";
  /** Use: the HTTP status code, e.g. 403 or 500. */
  readonly status: number;
  /** Use: the response body with surrounding whitespace trimmed, as Go keeps it. */
  readonly body: string;
  constructor(status: number, body: string) {
    const trimmed = body.trim();
    super(`Unexpected response code: ${status} (${trimmed})`);
    this.status = status;
    this.body = trimmed;
  }
}

/** The request never got an answer: refused, reset, DNS, TLS, or the time bound expired (Go's *url.Error). */
export class ConnectionError extends CairnError {
  readonly code = "connection";
  override name = "ConnectionError";
  /** Use: the system error code when there is one (ECONNREFUSED, ETIMEDOUT, ...). */
  readonly errno: string;
  constructor(message: string, errno: string, options?: { cause: unknown }) {
    super(message, options);
    this.errno = errno;
  }
}

/** The configuration cannot produce a client (bad address scheme, unreadable token or TLS files). */
export class ClientConfigError extends CairnError {
  readonly code = "client_config";
  override name = "ClientConfigError";
}

/** The caller passed something the API cannot express; nothing was sent (e.g. a key starting with '/'). */
export class InvalidRequestError extends CairnError {
  readonly code = "invalid_request";
  override name = "InvalidRequestError";
}

/** The server answered 2xx with a body the client cannot decode. */
export class DecodeError extends CairnError {
  readonly code = "decode";
  override name = "DecodeError";
}

/** Go's wording for the usual system errors, so connection failures read as they do with `consul`. */
const GO_SYSCALL_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connect: connection refused",
  ECONNRESET: "read: connection reset by peer",
  ENOENT: "connect: no such file or directory",
  EACCES: "connect: permission denied",
  EHOSTUNREACH: "connect: no route to host",
  ENETUNREACH: "connect: network is unreachable",
  EPIPE: "write: broken pipe",
};

/** `Get "http://127.0.0.1:8500/v1/kv/a": dial tcp 127.0.0.1:8500: connect: connection refused` */
export function describeConnectionFailure(method: string, url: string, dial: string, err: unknown): string {
  const op = method.slice(0, 1).toUpperCase() + method.slice(1).toLowerCase();
  const code = errnoOf(err);
  const text = GO_SYSCALL_TEXT[code];
  const detail = text !== undefined ? `dial ${dial}: ${text}` : errorText(err);
  return `${op} "${url}": ${detail}`;
}

export function errnoOf(err: unknown): string {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string")
    return err.code;
  return "";
}
