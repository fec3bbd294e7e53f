/**
 * Service and check definitions in agent config files (`service`, `services`, `check`, `checks`), as Consul's
 * config builder reads them: each key takes one object or an array of objects, with the same fields and defaults
 * as the HTTP API. They are loaded at every start and never persisted (consul-compat.md §8.6).
 */
import { goQuote } from "../util/goquote.js";
import {
  type CheckDef,
  field,
  isObject,
  parseCheckRegistration,
  parseServiceRegistration,
  type ServiceRegistration,
} from "./defs.js";

export const DEFINITION_KEYS: readonly string[] = ["service", "services", "check", "checks"];

export interface ConfigDefinitions {
  readonly services: readonly ServiceRegistration[];
  readonly checks: readonly CheckDef[];
}

function objects(v: unknown, key: string): Record<string, unknown>[] {
  const list = Array.isArray(v) ? v : [v];
  if (!list.every(isObject)) throw new Error(`"${key}" must be an object or an array of objects`);
  return list as Record<string, unknown>[];
}

/** A service definition's `token`: the ACL token anti-entropy registers it (and its checks) with. */
function withToken(reg: ServiceRegistration, o: Readonly<Record<string, unknown>>): ServiceRegistration {
  const t = field(o, "Token");
  if (t === undefined || t === null || t === "") return reg;
  if (typeof t !== "string") throw new Error(`service ${goQuote(reg.service.ID)}: "token" must be a string`);
  return { ...reg, token: t };
}

/** The definitions in one config file's top-level object. Throws Error with Consul's text for a bad one. */
export function readDefinitions(doc: Readonly<Record<string, unknown>>): ConfigDefinitions {
  const services: ServiceRegistration[] = [];
  const checks: CheckDef[] = [];
  for (const key of DEFINITION_KEYS) {
    if (!Object.hasOwn(doc, key)) continue;
    for (const o of objects(doc[key], key)) {
      if (key.startsWith("service")) services.push(withToken(parseServiceRegistration(o), o));
      else checks.push(parseCheckRegistration(o));
    }
  }
  return { services, checks };
}
