/**
 * Help text in the layout of Consul's flags.Usage (command/flags/usage.go printFlag): each option as
 * `  -name=<value>` (or `  -name` for a bool), then its usage word-wrapped at 72 columns and indented 5, sorted
 * by name under a section title. One layout for `cairn agent`, the CLI and `cairn snapshot agent`.
 */
import type { FlagDef, FlagDefs } from "./flags.js";
import { wordWrap } from "./text.js";

const LINE_WIDTH_MAX = 72;
const INDENT = 5;

const VALUE_NAME_OF_KIND: Readonly<Record<FlagDef["kind"], string>> = {
  string: "string",
  bool: "",
  int: "int",
  uint64: "uint",
  duration: "duration",
  list: "value",
};

/** Go's flag.UnquoteUsage: the backquoted word of the usage, else the name of the flag's kind ("" for a bool). */
export function flagValueName(def: FlagDef): string {
  const quoted = /`([^`]*)`/.exec(def.usage);
  return quoted !== null ? (quoted[1] ?? "") : VALUE_NAME_OF_KIND[def.kind];
}

export interface SectionOptions {
  /** The `<value>` shown after a flag's name ("" for none); flagValueName unless given. */
  readonly valueName?: (name: string, def: FlagDef) => string;
  /** Go's PrintDefaults drops the backquotes from the usage; Consul's printFlag keeps them. */
  readonly dropBackquotes?: boolean;
}

/** A titled section of options, `names` sorted; names without a definition in `defs` are skipped. */
export function flagSection(
  title: string,
  names: readonly string[],
  defs: FlagDefs,
  opts: SectionOptions = {},
): string {
  const valueName = opts.valueName ?? ((_name: string, def: FlagDef) => flagValueName(def));
  let s = `${title}\n\n`;
  for (const name of [...names].sort()) {
    const def = defs[name];
    if (def === undefined) continue;
    const value = valueName(name, def);
    s += value === "" ? `  -${name}\n` : `  -${name}=<${value}>\n`;
    const text = opts.dropBackquotes === true ? def.usage.replaceAll("`", "") : def.usage;
    s += `${wordWrap(text, LINE_WIDTH_MAX - INDENT)
      .map((line) => " ".repeat(INDENT) + line)
      .join("\n")}\n\n`;
  }
  return s;
}
