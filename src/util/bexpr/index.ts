export { BexprEvalError, createFilter, evaluate, FILTER_ERROR_PREFIX } from "./evaluate.js";
export { BexprSyntaxError, type Expr, type MatchOp, parseBexpr } from "./parse.js";
