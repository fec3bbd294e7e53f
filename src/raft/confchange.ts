import type { ConfChange } from "./types.js";

/** Conf entries carry a ConfChange as UTF-8 JSON: small, rare, and readable in traces. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v: unknown = JSON.parse(new TextDecoder().decode(data));
  if (typeof v !== "object" || v === null) throw new Error("decode conf change: not an object");
  const o = v as Record<string, unknown>;
  if (o.type !== "addVoter" && o.type !== "addLearner" && o.type !== "remove") {
    throw new Error(`decode conf change: unknown type ${JSON.stringify(o.type)}`);
  }
  if (typeof o.node !== "number" || !Number.isSafeInteger(o.node) || o.node <= 0) {
    throw new Error(`decode conf change: bad node ${JSON.stringify(o.node)}`);
  }
  const cc: ConfChange =
    typeof o.context === "string"
      ? { type: o.type, node: o.node, context: o.context }
      : { type: o.type, node: o.node };
  return cc;
}
