/**
 * Request bodies of the five operations, parsed and validated the way the service does before it runs anything:
 * malformed input is a `BadRequestException` that names the member, in AWS's validation-message style.
 */
import { badRequest } from "./errors.js";
import type { DecimalReturnType, LongReturnType, ResultOptions } from "./fields.js";
import { parseJson } from "./json.js";

/** What every operation names: the cluster and the secret that opens it. */
export interface ClusterRequest {
  readonly resourceArn: string;
  readonly secretArn: string;
}

export interface ExecuteStatementRequest extends ClusterRequest {
  readonly sql: string;
  readonly database: string | undefined;
  readonly parameters: unknown;
  readonly transactionId: string | undefined;
  readonly includeResultMetadata: boolean;
  readonly formatRecordsAs: "NONE" | "JSON";
  readonly resultOptions: ResultOptions;
}

export interface BatchExecuteStatementRequest extends ClusterRequest {
  readonly sql: string;
  readonly database: string | undefined;
  readonly parameterSets: unknown[];
  readonly transactionId: string | undefined;
}

export interface BeginTransactionRequest extends ClusterRequest {
  readonly database: string | undefined;
}

export interface EndTransactionRequest extends ClusterRequest {
  readonly transactionId: string;
}

type Body = Record<string, unknown>;

/**
 * Parses a request body: a JSON object (an empty body is an empty object, as the SDK sends for no input). Integers
 * beyond 2^53 arrive as bigints, exactly.
 */
export function parseBody(text: string): Body {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (error) {
    throw badRequest(`Malformed request body: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest("Malformed request body: expected a JSON object");
  }
  return value as Body;
}

const invalid = (detail: string) => badRequest(`1 validation error detected: ${detail}`);

function text(
  body: Body,
  key: string,
  limits: { required: boolean; min?: number; max: number },
): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) {
    if (limits.required) {
      throw invalid(`Value null at '${key}' failed to satisfy constraint: Member must not be null`);
    }
    return undefined;
  }
  if (typeof value !== "string") throw badRequest(`Malformed request body: '${key}' must be a string`);
  if (value.length < (limits.min ?? 0)) {
    throw invalid(
      `Value '${value}' at '${key}' failed to satisfy constraint: Member must have length greater than or equal to ${limits.min}`,
    );
  }
  if (value.length > limits.max) {
    throw invalid(
      `Value at '${key}' failed to satisfy constraint: Member must have length less than or equal to ${limits.max}`,
    );
  }
  return value;
}

function flag(body: Body, key: string): boolean {
  const value = body[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw badRequest(`Malformed request body: '${key}' must be a boolean`);
  return value;
}

function oneOf<T extends string>(value: unknown, key: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalid(
    `Value '${String(value)}' at '${key}' failed to satisfy constraint: Member must satisfy enum value set: [${allowed.join(", ")}]`,
  );
}

function cluster(body: Body): ClusterRequest {
  return {
    resourceArn: text(body, "resourceArn", { required: true, min: 11, max: 100 }) as string,
    secretArn: text(body, "secretArn", { required: true, min: 11, max: 100 }) as string,
  };
}

const database = (body: Body) => text(body, "database", { required: false, max: 64 }) || undefined;
const transactionId = (body: Body, required: boolean) => text(body, "transactionId", { required, max: 192 });
const sql = (body: Body) => text(body, "sql", { required: true, max: 65_536 }) as string;

export function executeStatementRequest(body: Body): ExecuteStatementRequest {
  const options = body.resultSetOptions;
  if (options !== undefined && options !== null && (typeof options !== "object" || Array.isArray(options))) {
    throw badRequest("Malformed request body: 'resultSetOptions' must be an object");
  }
  const { decimalReturnType, longReturnType } = (options ?? {}) as Body;
  // Both validated and ignored: AWS documents `schema` as not supported, and statements here are never cut off at
  // AWS's 45 s call timeout, so there is nothing for `continueAfterTimeout` to continue.
  text(body, "schema", { required: false, max: 64 });
  flag(body, "continueAfterTimeout");
  return {
    ...cluster(body),
    sql: sql(body),
    database: database(body),
    parameters: body.parameters,
    transactionId: transactionId(body, false) || undefined,
    includeResultMetadata: flag(body, "includeResultMetadata"),
    formatRecordsAs: oneOf(body.formatRecordsAs, "formatRecordsAs", ["NONE", "JSON"] as const, "NONE"),
    resultOptions: {
      decimalReturnType: oneOf<DecimalReturnType>(
        decimalReturnType,
        "resultSetOptions.decimalReturnType",
        ["STRING", "DOUBLE_OR_LONG"],
        "STRING",
      ),
      longReturnType: oneOf<LongReturnType>(
        longReturnType,
        "resultSetOptions.longReturnType",
        ["LONG", "STRING"],
        "LONG",
      ),
    },
  };
}

export function batchExecuteStatementRequest(body: Body): BatchExecuteStatementRequest {
  const sets = body.parameterSets;
  if (sets !== undefined && sets !== null && !Array.isArray(sets)) {
    throw badRequest("Malformed request body: 'parameterSets' must be a list of parameter lists");
  }
  return {
    ...cluster(body),
    sql: sql(body),
    database: database(body),
    parameterSets: sets ?? [],
    transactionId: transactionId(body, false) || undefined,
  };
}

export function beginTransactionRequest(body: Body): BeginTransactionRequest {
  text(body, "schema", { required: false, max: 64 });
  return { ...cluster(body), database: database(body) };
}

export function endTransactionRequest(body: Body): EndTransactionRequest {
  return { ...cluster(body), transactionId: transactionId(body, true) as string };
}
