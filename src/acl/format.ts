/**
 * Rules printed back as HCL, in the layout of Consul's documentation and built-in policies: one attribute per
 * line, one block per rule. parseRules(formatRules(r)) gives r again (the property test holds it to that).
 */
import { goQuote } from "../util/goquote.js";
import { blockName, GLOBAL_RESOURCES, type ParsedRules } from "./rules.js";

export function formatRules(rules: ParsedRules): string {
  const lines: string[] = [];
  for (const g of GLOBAL_RESOURCES) {
    const v = rules.global[g];
    if (v !== undefined) lines.push(`${g} = ${goQuote(v)}`);
  }
  for (const r of rules.rules) {
    // Go's quoting is also HCL1's: its strings are unquoted with Go's rules.
    lines.push(`${blockName(r.resource, r.prefix)} ${goQuote(r.name)} {`);
    lines.push(`  policy = ${goQuote(r.policy)}`);
    if (r.intentions !== undefined) lines.push(`  intentions = ${goQuote(r.intentions)}`);
    lines.push("}");
  }
  return lines.join("\n");
}
