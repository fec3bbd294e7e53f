/**
 * Checks a config file's object against a table of its keys: every key must be in the table (an unknown key is
 * an error naming its full path, never silently ignored: hashicorp/consul#5629 is an agent that ran for months
 * with a misspelt setting), and every value must have its key's type. The table is flat, one dotted path a key
 * (`ports.http`); an object is implied by the paths below it.
 */
import { ConfigFileError, isJsonObject } from "./config-file.js";
import { parseGoDurationNs } from "./flags.js";
import { goQuote } from "./goquote.js";
import { closestWord } from "./text.js";

export type ConfigValue = boolean | number | string | string[] | Record<string, string>;

/**
 * `duration`: a Go duration string ("90s", "1h30m", "0"), read as milliseconds. `stringMap`: an object of strings.
 * `min` bounds an int or duration from below; `check` returns why a value of the right type is refused.
 */
export interface ConfigKey {
  readonly kind: "bool" | "int" | "string" | "strings" | "duration" | "stringMap";
  readonly min?: number;
  readonly check?: (value: ConfigValue) => string | undefined;
}

export interface ConfigEntry<K extends ConfigKey> {
  /** The path in the table (without the options' prefix). */
  readonly path: string;
  readonly key: K;
  readonly value: ConfigValue;
}

export interface ConfigKeyOptions {
  readonly file: string;
  /** Put before every path in messages, e.g. `snapshot_agent.` for keys read inside that object. */
  readonly prefix?: string;
  /** Why a key the table lacks is refused, when there is more to say than "is not a config key". */
  readonly unknown?: (path: string) => string | undefined;
}

/** The entries of `obj`, in document order. Throws ConfigFileError naming the file and the key's full path. */
export function readConfigKeys<K extends ConfigKey>(
  obj: Readonly<Record<string, unknown>>,
  table: Readonly<Record<string, K>>,
  opts: ConfigKeyOptions,
): ConfigEntry<K>[] {
  const out: ConfigEntry<K>[] = [];
  const walk = (o: Readonly<Record<string, unknown>>, at: string) => {
    for (const [name, value] of Object.entries(o)) {
      const path = at + name;
      const key = Object.hasOwn(table, path) ? table[path] : undefined;
      if (key !== undefined) {
        const checked = checkValue(value, key, path, opts);
        const why = key.check?.(checked);
        if (why !== undefined) throw fail(opts, path, `cannot be ${shown(value)}: ${why}`);
        out.push({ path, key, value: checked });
      } else if (!Object.keys(table).some((p) => p.startsWith(`${path}.`))) {
        throw fail(opts, path, opts.unknown?.(path) ?? notAKey(table, at, name, opts.prefix ?? ""));
      } else if (isJsonObject(value)) {
        walk(value, `${path}.`);
      } else {
        throw fail(opts, path, "must be an object");
      }
    }
  };
  walk(obj, "");
  return out;
}

function fail(opts: ConfigKeyOptions, path: string, what: string): ConfigFileError {
  return new ConfigFileError(
    `config file ${goQuote(opts.file)}: ${goQuote((opts.prefix ?? "") + path)} ${what}`,
  );
}

/** "is not a config key", with the nearest key of the same object when the name looks like a typo of it. */
function notAKey(table: Readonly<Record<string, unknown>>, at: string, name: string, prefix: string): string {
  const siblings = new Set<string>();
  for (const p of Object.keys(table)) {
    if (p.startsWith(at)) siblings.add(p.slice(at.length).split(".")[0] ?? "");
  }
  const near = closestWord(name, [...siblings]);
  return near === undefined
    ? "is not a config key"
    : `is not a config key (did you mean ${goQuote(prefix + at + near)}?)`;
}

const TYPE_NAMES: Readonly<Record<ConfigKey["kind"], string>> = {
  bool: "a boolean",
  int: "an integer",
  string: "a string",
  strings: "an array of strings",
  duration: 'a duration string such as "30s", "1h" or "0"',
  stringMap: "an object of strings",
};

function checkValue(value: unknown, key: ConfigKey, path: string, opts: ConfigKeyOptions): ConfigValue {
  const wrongType = () => fail(opts, path, `must be ${TYPE_NAMES[key.kind]}`);
  switch (key.kind) {
    case "bool":
      if (typeof value !== "boolean") throw wrongType();
      return value;
    case "string":
      if (typeof value !== "string") throw wrongType();
      return value;
    case "strings":
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw wrongType();
      return value;
    case "stringMap":
      if (!isJsonObject(value) || !Object.values(value).every((v) => typeof v === "string"))
        throw wrongType();
      return value as Record<string, string>;
    case "int":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw wrongType();
      if (key.min !== undefined && value < key.min)
        throw fail(opts, path, `cannot be ${value}: ${minText(key.min)}`);
      return value;
    case "duration": {
      if (typeof value !== "string") throw wrongType();
      const ms = durationMs(value);
      if (typeof ms === "string") throw fail(opts, path, `cannot be ${goQuote(value)}: ${ms}`);
      if (key.min !== undefined && ms < key.min) {
        throw fail(opts, path, `cannot be ${goQuote(value)}: ${minText(key.min)}`);
      }
      return ms;
    }
  }
}

/** A value as messages show it: strings quoted as Go does, anything else as JSON. */
export function shown(value: unknown): string {
  return typeof value === "string" ? goQuote(value) : JSON.stringify(value);
}

/** What a bound says, worded for the common case of 0. */
export function minText(min: number): string {
  return min === 0 ? "must not be negative" : `must be at least ${min}`;
}

/** A Go duration in milliseconds, or why the text is not one. */
export function durationMs(text: string): number | string {
  try {
    return Number(parseGoDurationNs(text)) / 1e6;
  } catch {
    if (!/^[+-]?[0-9.]+$/.test(text)) return 'not a duration (write e.g. "30s", "1h30m" or "0")';
    const n = text.replace(/^\+/, "");
    return `a duration needs a unit, such as "${n}s", "${n}m" or "${n}h"`;
  }
}
