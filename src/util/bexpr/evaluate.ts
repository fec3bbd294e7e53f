/**
 * Evaluating a go-bexpr expression against the JSON shape an endpoint answers with (consul-compat.md §8.10).
 * go-bexpr walks Go structs with mitchellh/pointerstructure: field names match exactly (case-sensitive), map
 * keys exactly, and the raw value of the expression is coerced to the selected field's type (strconv rules).
 * Here the JSON value's type stands in for the Go type: a string field compares as a string, a number as a
 * number (Go's strconv.ParseInt/ParseFloat of the raw value), a boolean with strconv.ParseBool.
 */
import { BexprSyntaxError, type Expr, parseBexpr } from "./parse.js";

/** An expression that parses but cannot be applied to a datum (a missing field, a value of the wrong type). */
export class BexprEvalError extends Error {
  override name = "BexprEvalError";
}

type Datum = unknown;

/**
 * Go maps of the JSON shapes (Meta, NodeMeta, ServiceMeta, TaggedAddresses…): a key missing there is "not
 * present" (`==` false, `!=` true, `is empty` true…), as go-bexpr's NotPresentDisposition, while a missing
 * struct field is an error. JSON does not say which objects were maps, so the field name does.
 */
function isMapField(name: string | undefined): boolean {
  return name !== undefined && (/Meta$/.test(name) || /TaggedAddresses$/.test(name));
}

function typeName(v: Datum): string {
  if (typeof v === "string") return "string";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "bigint") return "uint64";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v)) return "slice";
  return v === null ? "ptr" : "map";
}

type Found = { readonly present: true; readonly value: Datum } | { readonly present: false };

function lookup(datum: Datum, path: readonly string[]): Found {
  let cur = datum;
  for (let i = 0; i < path.length; i++) {
    const part = path[i]!;
    const shown = `/${path.slice(0, i + 1).join("/")}`;
    if (Array.isArray(cur)) {
      const idx = /^[0-9]+$/.test(part) ? Number(part) : Number.NaN;
      if (!(idx < cur.length))
        throw new BexprEvalError(`error finding value in datum: ${shown} at part ${i}: index out of range`);
      cur = cur[idx];
      continue;
    }
    if (cur === null || typeof cur !== "object") {
      if (cur === null && i > 0 && isMapField(path[i - 1])) return { present: false };
      throw new BexprEvalError(
        `error finding value in datum: ${shown} at part ${i}: invalid value kind: ${typeName(cur)}`,
      );
    }
    const obj = cur as Record<string, Datum>;
    if (!Object.hasOwn(obj, part)) {
      if (i > 0 && isMapField(path[i - 1])) return { present: false };
      throw new BexprEvalError(
        `error finding value in datum: ${shown} at part ${i}: couldn't find key: struct field with name "${part}"`,
      );
    }
    cur = obj[part];
  }
  return { present: true, value: cur };
}

/** go-bexpr's NotPresentDisposition: a missing map key equals, contains and matches nothing. */
const NOT_PRESENT: Record<string, boolean> = {
  "==": false,
  "!=": true,
  in: false,
  "not in": true,
  contains: false,
  "not contains": true,
  "is empty": true,
  "is not empty": false,
  matches: false,
  "not matches": true,
};

/** Go's strconv.ParseBool. */
function parseBool(raw: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(raw)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(raw)) return false;
  throw new BexprEvalError(`strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
}

/** The raw value as the type of `like` (go-bexpr's getMatchExprValue), or an error as strconv's. */
function coerce(raw: string, like: Datum): Datum {
  if (typeof like === "boolean") return parseBool(raw);
  if (typeof like === "bigint") {
    if (!/^-?[0-9]+$/.test(raw))
      throw new BexprEvalError(`strconv.ParseUint: parsing ${JSON.stringify(raw)}: invalid syntax`);
    return BigInt(raw);
  }
  if (typeof like === "number") {
    const n = Number(raw);
    if (raw.trim() === "" || Number.isNaN(n))
      throw new BexprEvalError(
        `strconv.Parse${Number.isInteger(like) ? "Int" : "Float"}: parsing ${JSON.stringify(raw)}: invalid syntax`,
      );
    return n;
  }
  return raw;
}

function equal(raw: string, v: Datum): boolean {
  if (v === null || typeof v === "object")
    throw new BexprEvalError("unable to find suitable primitive comparison function for matching");
  try {
    return coerce(raw, v) === v;
  } catch (e) {
    throw new BexprEvalError(`error getting match value in expression: ${(e as Error).message}`);
  }
}

function contains(raw: string, v: Datum, selector: readonly string[]): boolean {
  if (typeof v === "string") return v.includes(raw);
  if (Array.isArray(v)) {
    // Like go-bexpr on []interface{}: each element by its own type, skipping values the raw text cannot be.
    return v.some((x) => {
      if (x === null || typeof x === "object") return false;
      try {
        return coerce(raw, x) === x;
      } catch {
        return false;
      }
    });
  }
  if (v !== null && typeof v === "object") return Object.hasOwn(v, raw);
  if (v === null) return false;
  throw new BexprEvalError(
    `cannot perform in/contains operations on type ${typeName(v)} for selector: "${selector.join(".")}"`,
  );
}

function isEmpty(v: Datum, selector: readonly string[]): boolean {
  if (v === null) return true;
  if (typeof v === "string" || Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  throw new BexprEvalError(
    `cannot perform is-empty operations on type ${typeName(v)} for selector: "${selector.join(".")}"`,
  );
}

const regexps = new Map<string, RegExp>();

/**
 * go-bexpr compiles Go RE2. JavaScript's RegExp (with the `u` flag) agrees on the common subset; RE2's
 * `(?i)`-style flags are not supported by it (they fail to compile, with JavaScript's message).
 */
function regexpOf(raw: string): RegExp {
  let re = regexps.get(raw);
  if (re === undefined) {
    try {
      re = new RegExp(raw, "u");
    } catch (e) {
      throw new BexprEvalError(
        `failed to compile regular expression ${JSON.stringify(raw)}: ${(e as Error).message}`,
      );
    }
    if (regexps.size > 1000) regexps.clear();
    regexps.set(raw, re);
  }
  return re;
}

function matches(raw: string, v: Datum): boolean {
  if (typeof v !== "string")
    throw new BexprEvalError(`value of type ${typeName(v)} is not convertible to []byte`);
  return regexpOf(raw).test(v);
}

export function evaluate(e: Expr, datum: Datum): boolean {
  switch (e.kind) {
    case "and":
      return evaluate(e.left, datum) && evaluate(e.right, datum);
    case "or":
      return evaluate(e.left, datum) || evaluate(e.right, datum);
    case "not":
      return !evaluate(e.operand, datum);
    case "match": {
      const found = lookup(datum, e.selector);
      if (!found.present) return NOT_PRESENT[e.op]!;
      const v = found.value;
      const raw = e.value ?? "";
      switch (e.op) {
        case "==":
          return equal(raw, v);
        case "!=":
          return !equal(raw, v);
        case "in":
        case "contains":
          return contains(raw, v, e.selector);
        case "not in":
        case "not contains":
          return !contains(raw, v, e.selector);
        case "is empty":
          return isEmpty(v, e.selector);
        case "is not empty":
          return !isEmpty(v, e.selector);
        case "matches":
          return matches(raw, v);
        case "not matches":
          return !matches(raw, v);
      }
    }
  }
}

/** Consul's prefix for a bad expression (go-bexpr's CreateFilter). */
export const FILTER_ERROR_PREFIX = "Failed to create boolean expression evaluator: ";

/**
 * A compiled filter: `keep(datum)` says whether one element stays. Throws BexprSyntaxError with Consul's text
 * (`Failed to create boolean expression evaluator: <go-bexpr's parse error>`) for a bad expression.
 */
export function createFilter(expression: string): (datum: Datum) => boolean {
  let ast: Expr;
  try {
    ast = parseBexpr(expression);
  } catch (e) {
    if (e instanceof BexprSyntaxError) throw new BexprSyntaxError(`${FILTER_ERROR_PREFIX}${e.message}`);
    throw e;
  }
  return (datum) => evaluate(ast, datum);
}
