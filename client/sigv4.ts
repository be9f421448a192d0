/**
 * SigV4 signing for the client, with the AWS SDK's own signer (`@smithy/signature-v4`) and SHA-256 from Web Crypto,
 * so it runs in Node.js 20+ and browsers alike. Credentials: given, or (Node.js only, loaded on first use) the
 * standard AWS credential chain of `@aws-sdk/credential-provider-node` (environment, SSO, shared config and
 * credentials files, web identity, ECS and EC2 metadata).
 *
 *   createClient({ baseUrl, signer: sigv4Signer({ region: "eu-west-1" }) })
 */
import { SignatureV4 } from "@smithy/signature-v4";
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  Checksum,
  SourceData,
} from "@smithy/types";
import type { Signer } from "./client.js";

const encoder = new TextEncoder();

function bytesOf(data: SourceData): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** SHA-256 and HMAC-SHA-256 over Web Crypto (`crypto.subtle`), in the shape the signer takes. */
export class WebCryptoSha256 implements Checksum {
  readonly #secret: Uint8Array | undefined;
  #chunks: Uint8Array[] = [];

  constructor(secret?: SourceData) {
    this.#secret = secret === undefined ? undefined : bytesOf(secret);
  }

  update(data: Uint8Array): void {
    this.#chunks.push(bytesOf(data).slice());
  }

  async digest(): Promise<Uint8Array> {
    const length = this.#chunks.reduce((n, c) => n + c.length, 0);
    const data = new Uint8Array(length);
    let at = 0;
    for (const chunk of this.#chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
    const subtle = globalThis.crypto.subtle;
    if (this.#secret === undefined) return new Uint8Array(await subtle.digest("SHA-256", data));
    const key = await subtle.importKey("raw", this.#secret, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    return new Uint8Array(await subtle.sign("HMAC", key, data));
  }

  reset(): void {
    this.#chunks = [];
  }
}

export interface SigV4Options {
  /** The stack's region. */
  readonly region: string;
  /** @default "execute-api" (API Gateway) */
  readonly service?: string;
  /** Unset: the standard AWS credential chain (Node.js only). */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** For tests: the signing time. */
  readonly now?: () => Date;
}

/** The standard AWS credential chain, imported on first use (so a browser bundle that passes credentials never loads it). */
function credentialChain(): AwsCredentialIdentityProvider {
  let provider: Promise<AwsCredentialIdentityProvider> | undefined;
  return async () => {
    provider ??= import("@aws-sdk/credential-provider-node").then((m) => m.defaultProvider());
    return (await provider)();
  };
}

/** A {@link Signer} that signs each request with SigV4 (headers `authorization`, `x-amz-date`, `x-amz-content-sha256`, and `x-amz-security-token` for temporary credentials). */
export function sigv4Signer(opts: SigV4Options): Signer {
  const service = opts.service ?? "execute-api";
  const signer = new SignatureV4({
    service,
    region: opts.region,
    credentials: opts.credentials ?? credentialChain(),
    sha256: WebCryptoSha256,
  });
  return async ({ method, url, headers, body }) => {
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of url.searchParams) {
      const seen = query[key];
      query[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
    }
    const signed = await signer.sign(
      {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        // `host` is signed as fetch will send it (`url.host`), but fetch sets it itself: it is not returned.
        headers: { ...headers, host: url.host },
        body,
      },
      opts.now ? { signingDate: opts.now() } : {},
    );
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) {
      if (name.toLowerCase() !== "host") out[name] = String(value);
    }
    return out;
  };
}
