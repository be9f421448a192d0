/**
 * The RDS Data API's errors as they travel on the wire (REST-JSON): an HTTP status, an `x-amzn-ErrorType` header
 * the SDK turns into its named exception class, and a `{"message": ...}` body.
 */
import type { DatabaseError } from "pg";

export type DataApiErrorType =
  | "AccessDeniedException"
  | "BadRequestException"
  | "DatabaseErrorException"
  | "DatabaseResumingException"
  | "DatabaseUnavailableException"
  | "HttpEndpointNotEnabledException"
  | "IncompleteSignatureException"
  | "InternalServerErrorException"
  | "InvalidSignatureException"
  | "MissingAuthenticationTokenException"
  | "SecretsErrorException"
  | "UnknownOperationException"
  | "UnrecognizedClientException"
  | "UnsupportedResultException";

/** HTTP status per error type, as the service model (`@aws-sdk/client-rds-data` schemas) declares it. */
const STATUS: Record<DataApiErrorType, number> = {
  AccessDeniedException: 403,
  BadRequestException: 400,
  DatabaseErrorException: 400,
  DatabaseResumingException: 400,
  DatabaseUnavailableException: 504,
  HttpEndpointNotEnabledException: 400,
  // AWS's authentication errors (common to every service, not in the Data API's own model).
  IncompleteSignatureException: 400,
  InternalServerErrorException: 500,
  InvalidSignatureException: 403,
  MissingAuthenticationTokenException: 403,
  SecretsErrorException: 400,
  UnknownOperationException: 404,
  UnrecognizedClientException: 403,
  UnsupportedResultException: 400,
};

/** Errors of AWS's request authentication, raised by the service framework before the Data API itself. */
const AUTH_ERRORS: ReadonlySet<DataApiErrorType> = new Set([
  "IncompleteSignatureException",
  "InvalidSignatureException",
  "MissingAuthenticationTokenException",
  "UnrecognizedClientException",
]);

/** An error the endpoint answers with. `message` is `undefined` for the types whose model has no message. */
export class DataApiError extends Error {
  override name = "DataApiError";
  readonly status: number;

  constructor(
    readonly type: DataApiErrorType,
    readonly awsMessage: string | undefined,
    options?: ErrorOptions,
  ) {
    super(`${type}: ${awsMessage ?? "(no message)"}`, options);
    this.status = STATUS[type];
  }
}

export const badRequest = (message: string, options?: ErrorOptions) =>
  new DataApiError("BadRequestException", message, options);

/** AWS renders every failed statement as `ERROR: <message>[; Hint: ...][; Position: N]; SQLState: XXXXX`. */
export function databaseError(error: DatabaseError): DataApiError {
  let message = `${error.severity ?? "ERROR"}: ${error.message}`;
  if (error.hint) message += `; Hint: ${error.hint}`;
  if (error.position) message += `; Position: ${error.position}`;
  message += `; SQLState: ${error.code ?? "XX000"}`;
  return new DataApiError("DatabaseErrorException", message, { cause: error });
}

/** The rendered HTTP response for an error. */
export function dataApiErrorResponse(error: DataApiError): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  return {
    status: error.status,
    // The service appends its namespace; the SDK keeps what precedes the first ':'.
    headers: {
      "x-amzn-ErrorType": `${error.type}:http://internal.amazon.com/coral/${AUTH_ERRORS.has(error.type) ? "com.amazon.coral.service" : "com.amazon.rdsdataservice"}/`,
    },
    body: JSON.stringify(error.awsMessage === undefined ? {} : { message: error.awsMessage }),
  };
}

/** A PostgreSQL server error (it carries an SQLSTATE), as opposed to a network or driver failure. */
export function isPgDatabaseError(error: unknown): error is DatabaseError {
  return (
    error instanceof Error &&
    typeof (error as Partial<DatabaseError>).code === "string" &&
    /^[0-9A-Z]{5}$/.test((error as DatabaseError).code ?? "") &&
    typeof (error as Partial<DatabaseError>).severity === "string"
  );
}

/**
 * A server error that ends the session, not just the statement: FATAL/PANIC severity, or SQLSTATE class 57P
 * (`admin_shutdown` from `pg_terminate_backend` or a server shutdown) or 08 (connection exception).
 */
export function isConnectionFatal(error: DatabaseError): boolean {
  return error.severity === "FATAL" || error.severity === "PANIC" || /^(57P|08)/.test(error.code ?? "");
}

/**
 * Whatever a handler threw, as the error the endpoint answers with: our own errors as they are, PostgreSQL errors
 * as `DatabaseErrorException`, an unreachable PostgreSQL as `DatabaseUnavailableException` (a 5xx the SDK retries,
 * as it does a real cluster with no available writer), anything else as `InternalServerErrorException`.
 */
export function toDataApiError(error: unknown): DataApiError {
  if (error instanceof DataApiError) return error;
  if (isPgDatabaseError(error)) return databaseError(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(code)) {
    return new DataApiError("DatabaseUnavailableException", undefined, { cause: error });
  }
  return new DataApiError("InternalServerErrorException", undefined, { cause: error });
}
