/**
 * SigV4 verification for the local Data API endpoint, as AWS verifies every call: the signature is recomputed with
 * `@smithy/signature-v4` (the SDK's own signer) over the headers the client says it signed, and compared.
 *
 * Errors are AWS's authentication errors for REST-JSON services, status and name (`x-amzn-ErrorType`), with
 * AWS's messages (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html lists the query-protocol
 * names; JSON protocols add the `Exception` suffix, which is what the SDK turns into the error's `name`).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Checksum, SourceData } from "@smithy/types";
import { DataApiError } from "./errors.js";

export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * The well-known identity every local endpoint accepts, for tools a user points at an endpoint by hand (the AWS CLI,
 * `sam local invoke`, the reshard tool, tests). The local runtime's own function never signs with it: each runtime
 * signs with credentials of its own ({@link runtimeCredentials}), which no other runtime's endpoints accept.
 */
export const LOCAL_CREDENTIALS: LocalCredentials = { accessKeyId: "local", secretAccessKey: "local" };

/**
 * Fresh credentials, unique to one local runtime: its function signs with them and only its own endpoints accept
 * them, so a function can never run a statement on another runtime's database, whatever answers at a shard's URL
 * (another `npm start` holding the port of a shard that is down, say).
 */
export function runtimeCredentials(): LocalCredentials {
  return {
    accessKeyId: `LOCAL${randomBytes(8).toString("hex").toUpperCase()}`,
    secretAccessKey: randomBytes(24).toString("base64url"),
  };
}

/** The Data API's signing name. */
const SERVICE = "rds-data";
/** AWS refuses a signature dated more than 15 minutes away from its clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;

/** SHA-256 / HMAC-SHA-256 from `node:crypto` in the shape the signer takes (the SDK's `@smithy/hash-node` is the same). */
export class Sha256 implements Checksum {
  readonly #hash;

  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash("sha256") : createHmac("sha256", toBuffer(secret));
  }

  update(data: Uint8Array): void {
    this.#hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }

  reset(): void {
    throw new Error("not needed by the signer");
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

const denied = (type: ConstructorParameters<typeof DataApiError>[0], message: string) =>
  new DataApiError(type, message);

const SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. " +
  "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/** `20260102T030405Z` as a Date, or undefined. */
function parseAmzDate(text: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text ?? "");
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return new Date(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s));
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

export interface SignedRequest {
  readonly method: string;
  /** The request target as received (path and query). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** What the headers of a signed request say, checked: the credentials that signed it, the scope and the date. */
export interface SignatureHeaders {
  readonly credentials: LocalCredentials;
  readonly region: string;
  readonly signedHeaders: readonly string[];
  readonly signingDate: Date;
  readonly signature: string;
}

/**
 * Everything of a SigV4 signature that the headers alone decide (present, well-formed, made by known credentials for
 * this service, dated within 15 minutes), checked before the body is read: a request that fails here costs the
 * endpoint no body. Throws the error AWS answers.
 */
export function checkSignatureHeaders(
  headers: IncomingHttpHeaders,
  accepted: LocalCredentials | readonly LocalCredentials[],
  now = new Date(),
): SignatureHeaders {
  const authorization = header(headers, "authorization");
  if (!authorization) throw denied("MissingAuthenticationTokenException", "Missing Authentication Token");
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (!m) {
    throw denied(
      "IncompleteSignatureException",
      `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters of AWS4-HMAC-SHA256. Authorization=${authorization}`,
    );
  }
  const [, accessKeyId, shortDate, region, service, signedHeaderList, signature] = m as unknown as string[];
  const credentials = (Array.isArray(accepted) ? accepted : [accepted]).find(
    (c: LocalCredentials) => c.accessKeyId === accessKeyId,
  );
  if (!credentials) {
    throw denied("UnrecognizedClientException", "The security token included in the request is invalid.");
  }
  if (service !== SERVICE) {
    throw denied(
      "InvalidSignatureException",
      `Credential should be scoped to correct service: '${SERVICE}'. `,
    );
  }
  const signedHeaders = (signedHeaderList as string).split(";");
  const amzDate = header(headers, "x-amz-date");
  const signingDate = parseAmzDate(amzDate);
  if (!signedHeaders.includes("host") || !signingDate || !signedHeaders.includes("x-amz-date")) {
    throw denied(
      "IncompleteSignatureException",
      "Authorization header requires existence of the host and x-amz-date headers.",
    );
  }
  if (amzDate?.slice(0, 8) !== shortDate) {
    throw denied(
      "InvalidSignatureException",
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${shortDate}' != '${amzDate?.slice(0, 8)}'`,
    );
  }
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) {
    throw denied(
      "InvalidSignatureException",
      `Signature expired: ${amzDate} is now earlier than ${new Date(now.getTime() - MAX_SKEW_MS).toISOString().replace(/[-:]|\.\d{3}/g, "")} (${now.toISOString().replace(/[-:]|\.\d{3}/g, "")} - 15 min.)`,
    );
  }
  for (const name of signedHeaders) {
    if (header(headers, name) === undefined) throw denied("InvalidSignatureException", SIGNATURE_MISMATCH);
  }
  return {
    credentials,
    region: region as string,
    signedHeaders,
    signingDate,
    signature: signature as string,
  };
}

/**
 * Throws the error AWS answers unless `request` carries a valid SigV4 signature made with one of `accepted`.
 * Only the `Authorization` header form is accepted: the SDK never presigns Data API calls.
 */
export async function verifySignature(
  request: SignedRequest,
  accepted: LocalCredentials | readonly LocalCredentials[],
  now = new Date(),
): Promise<void> {
  const { credentials, region, signedHeaders, signingDate, signature } = checkSignatureHeaders(
    request.headers,
    accepted,
    now,
  );
  // The signer trusts a declared payload hash; AWS checks it against the body (an unsigned payload is S3's alone).
  const declaredHash = header(request.headers, "x-amz-content-sha256");
  if (
    declaredHash !== undefined &&
    declaredHash !== createHash("sha256").update(request.body).digest("hex")
  ) {
    throw denied("InvalidSignatureException", SIGNATURE_MISMATCH);
  }
  const url = new URL(request.url, "http://localhost");
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) headers[name] = header(request.headers, name) as string;
  const signer = new SignatureV4({
    service: SERVICE,
    region,
    credentials,
    sha256: Sha256,
    // Sign exactly what the client signed: add no x-amz-content-sha256 of our own.
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: "http:",
      hostname: "",
      path: url.pathname,
      query,
      headers,
      body: request.body,
    },
    { signingDate, signingRegion: region, signingService: SERVICE, signableHeaders: new Set(signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? ""))?.[1] ?? "";
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(Buffer.from(expected), given)) {
    throw denied("InvalidSignatureException", SIGNATURE_MISMATCH);
  }
}
