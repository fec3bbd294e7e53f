/**
 * Consul's HTTP API for KV, status, operator and agent endpoints, as pure Request → Response handlers over a
 * ServerApi (src/server/api.ts), plus a thin node:http adapter. The only public entry of src/http.
 */
export { errorResponse, HttpError, NO_CLUSTER_LEADER } from "./errors.js";
export { type GoJson, goJson } from "./json.js";
export {
  BodyTooLargeError,
  type Handler,
  type HttpRequest,
  type HttpResponse,
  isStreamBody,
  memoryRequest,
  type RouteContext,
  type StreamBody,
} from "./model.js";
export {
  type Answer,
  createHttpServer,
  createHttpsServer,
  type HttpServerOptions,
  type ListenerOptions,
  requestListener,
  STREAM_BYTES_MAX_DEFAULT,
  toHttpRequest,
} from "./node-adapter.js";
export { formatGoDuration, parseQueryOptions } from "./params.js";
export { DEFAULT_ACL_POLICY_HEADER, handle, matchRoute, ROUTES, type Route, routeLabel } from "./router.js";
export { SNAPSHOT_CONTENT_TYPE } from "./snapshot.js";
export { UI_CSP, type UiAsset, type UiAssets } from "./ui.js";
export { loadUiAssets, VENDOR_FILES } from "./ui-assets.js";
