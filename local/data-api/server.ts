/**
 * A local RDS Data API endpoint: an HTTP server speaking the REST-JSON protocol of `@aws-sdk/client-rds-data`
 * (`POST /Execute`, `/BatchExecute`, `/BeginTransaction`, `/CommitTransaction`, `/RollbackTransaction`), backed by
 * PostgreSQL, with fault injection. Run one endpoint per shard so each shard can fail on its own.
 */
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP, type Socket } from "node:net";
import { hasLoopbackHost, hostName } from "../admin-guard.js";
import type { Fault } from "../faults.js";
import { assertPortFree, freePort } from "../free-port.js";
import type { PostgresConnection } from "../postgres.js";
import { badRequest, DataApiError, dataApiErrorResponse, toDataApiError } from "./errors.js";
import { RESULT_TOO_LARGE } from "./execute.js";
import { toJson } from "./json.js";
import { type DataApiCluster, DataApiOperations } from "./operations.js";
import { ConnectionPools } from "./pools.js";
import { parseBody } from "./requests.js";
import { checkSignatureHeaders, LOCAL_CREDENTIALS, type LocalCredentials, verifySignature } from "./sigv4.js";
import { Transactions } from "./transactions.js";

export type { DataApiCluster } from "./operations.js";

export interface DataApiEndpoint {
  /** `http://host:port`, for `new RDSDataClient({ endpoint: url })`. */
  readonly url: string;
  readonly port: number;
  readonly fault: Fault | undefined;
  /** Applies to requests that arrive from now on; resolves once the listener is down or up again. */
  setFault(fault: Fault | undefined): Promise<void>;
  /** Requests received since start (faulted ones included), for tests. */
  readonly requests: number;
  /** Requests received and not yet answered whose connection is still open, for tests. */
  readonly pending: number;
  /** Open Data API transactions, for tests. */
  readonly openTransactions: number;
  /** Closes the listener, every connection (hung ones too), every transaction and pool. */
  stop(): Promise<void>;
}

export interface DataApiEndpointOptions {
  postgres: PostgresConnection;
  clusters: DataApiCluster[];
  fault?: Fault;
  /** Default: a free port. */
  port?: number;
  /** Default: 127.0.0.1. */
  host?: string;
  /** The only credentials whose SigV4 signatures the endpoint accepts. Default: `LOCAL_CREDENTIALS`. */
  credentials?: LocalCredentials | readonly LocalCredentials[];
  /** How long a transaction may sit idle before it is rolled back and forgotten. Default: AWS's 3 minutes. */
  transactionIdleMs?: number;
  /** Connections kept at once; a connection over this is closed as it arrives. Default: 128. */
  maxConnections?: number;
}

/**
 * "The maximum size of the HTTP request submitted through the Data API is 4 MiB ... This 4-MiB limit includes the
 * size of the HTTP headers and the JSON notation in the request" (BatchExecuteStatement, API reference:
 * https://docs.aws.amazon.com/rdsdataservice/latest/APIReference/API_BatchExecuteStatement.html).
 */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Connections an endpoint keeps at once (the SDK opens at most 50 per endpoint); more are closed at once. */
const MAX_CONNECTIONS = 128;
/** How long a client has to send a whole request (headers and body); then the connection is closed. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long, and how much, of a refused request's body is read and dropped so its client can read the answer. */
const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;
/** "The response size limit is 1 MiB. If the call returns more than 1 MiB of response data, the call is terminated." */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** A stable, AWS-looking DB instance resource id (`db-` and 26 base32 letters) for a cluster ARN. */
function instanceResourceId(resourceArn: string): string {
  const digest = createHash("sha256").update(resourceArn).digest();
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let id = "db-";
  for (let i = 0; i < 26; i++) id += alphabet[(digest[i] ?? 0) % 32];
  return id;
}

/**
 * Refuses a request a web browser sends on behalf of another site's page (a `text/plain` POST needs no CORS
 * preflight, so a page could otherwise reach a local endpoint). Browsers mark such requests with `Origin` and
 * `Sec-Fetch-Site`; the SDK and other non-browser clients send neither. AWS itself has no such check (its endpoints
 * are not on the user's machine): this is a local choice, answered as AWS answers a forbidden call.
 */
function refuseCrossSite(req: IncomingMessage): void {
  const site = req.headers["sec-fetch-site"];
  if (req.headers.origin !== undefined || (site !== undefined && site !== "none")) {
    throw new DataApiError(
      "AccessDeniedException",
      "Requests from web browsers are refused by the local Data API endpoint",
    );
  }
}

const isLoopbackAddress = (address: string) => /^127\./.test(address) || address === "::1";

/**
 * Refuses a request addressed (`Host`) to a name that is not this machine's: a page whose own name resolves to
 * 127.0.0.1 (DNS rebinding) is same-origin to the browser, but keeps its name in `Host`. Accepted: the loopback
 * names and the endpoint's own address; bound beyond loopback (`DATA_API_HOST`, for `sam local` containers),
 * also `host.docker.internal` and any IP address (no DNS name, so nothing to rebind).
 */
function refuseForeignHost(req: IncomingMessage, bind: string): void {
  const own = new Set([bind.includes(":") ? `[${bind}]` : bind]);
  if (hasLoopbackHost(req, own)) return;
  const name = hostName(req);
  const beyondLoopback = !isLoopbackAddress(bind);
  if (beyondLoopback && (name === "host.docker.internal" || isIP(name.replace(/^\[|\]$/g, "")) !== 0)) return;
  throw new DataApiError(
    "AccessDeniedException",
    "The local Data API endpoint answers only requests addressed to 127.0.0.1, localhost or [::1]",
  );
}

/** Bytes of the request line and headers, as they count toward the 4 MiB request limit. */
function headerBytes(req: IncomingMessage): number {
  let bytes = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12;
  for (const part of req.rawHeaders) bytes += Buffer.byteLength(part) + 2;
  return bytes;
}

const tooLarge = () => badRequest("Request size exceeds the 4 MiB limit of the Data API");

class LocalDataApiEndpoint implements DataApiEndpoint {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #pools: ConnectionPools;
  readonly #transactions: Transactions;
  readonly #operations: DataApiOperations;
  readonly #clusters: readonly DataApiCluster[];
  readonly #host: string;
  readonly #credentials: LocalCredentials | readonly LocalCredentials[];
  #port = 0;
  #fault: Fault | undefined;
  #listening = false;
  #requests = 0;
  #pending = 0;
  #faultChange: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;

  constructor(options: DataApiEndpointOptions) {
    this.#host = options.host ?? "127.0.0.1";
    this.#clusters = options.clusters;
    this.#credentials = options.credentials ?? LOCAL_CREDENTIALS;
    this.#fault = options.fault;
    this.#pools = new ConnectionPools(options.postgres);
    this.#transactions = new Transactions(this.#pools, options.transactionIdleMs);
    this.#operations = new DataApiOperations(options.clusters, this.#pools, this.#transactions);
    this.#server = createServer((req, res) => void this.#handle(req, res));
    // The SDK keeps connections alive without an idle limit; Node's 5 s default would close them under its feet
    // between two calls now and then, a reset the real service (60 s or more) practically never causes.
    this.#server.keepAliveTimeout = 60_000;
    this.#server.headersTimeout = 65_000;
    this.#server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.#server.maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
    this.#server.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://${this.#host}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get fault(): Fault | undefined {
    return this.#fault;
  }

  get requests(): number {
    return this.#requests;
  }

  get pending(): number {
    return this.#pending;
  }

  get openTransactions(): number {
    return this.#transactions.size;
  }

  async start(port: number): Promise<void> {
    this.#port = port;
    if (this.#fault?.mode !== "down") await this.#listen();
  }

  #listen(): Promise<void> {
    if (this.#listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.#server.once("error", onError);
      // After `down`, listen again on the very port clients were configured with.
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off("error", onError);
        const address = this.#server.address();
        if (address && typeof address === "object") this.#port = address.port;
        this.#listening = true;
        resolve();
      });
    });
  }

  /** Stops listening (new connections are refused) and drops every open connection, as a vanished host would. */
  #unlisten(): Promise<void> {
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const socket of this.#sockets) socket.destroy();
    });
  }

  setFault(fault: Fault | undefined): Promise<void> {
    // Serialized, so a quick down/up/down sequence ends in the state of the last call (even after a failed one).
    this.#faultChange = this.#faultChange
      .catch(() => undefined)
      .then(async () => {
        if (this.#stopping) return;
        this.#fault = fault;
        if (fault?.mode === "down") await this.#unlisten();
        else await this.#listen();
      });
    return this.#faultChange;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#requests++;
    this.#pending++;
    res.on("close", () => this.#pending--);
    // The fault in force when the request arrived decides its fate, even if it changes meanwhile.
    const fault = this.#fault;
    if (fault?.mode === "down" || this.#stopping) {
      // A request that raced the listener closing: the host is gone, so is the connection.
      req.socket.destroy();
      return;
    }
    let raw: Buffer | undefined;
    try {
      // What the request line and headers alone decide, before any of the body is read (nothing is kept of a
      // refused request's body): who it is addressed to, who sends it, its signature's headers, its size.
      refuseForeignHost(req, this.#host);
      refuseCrossSite(req);
      // Accept and never answer; the socket is destroyed when the client gives up or the endpoint stops.
      if (fault?.mode === "hang") return;
      checkSignatureHeaders(req.headers, this.#credentials);
      const limit = MAX_REQUEST_BYTES - headerBytes(req);
      if (Number(req.headers["content-length"] ?? 0) > limit) throw tooLarge();
      raw = await this.#readBody(req, limit);
      await verifySignature(
        { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body: raw },
        this.#credentials,
      );
      const body = raw.toString("utf8");
      if (fault?.mode === "error") throw new DataApiError("InternalServerErrorException", undefined);
      if (fault?.mode === "resuming") throw this.#resuming(body);
      if (fault?.mode === "slow") await this.#sleep(fault.ms);
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      const operation = req.method === "POST" ? this.#operations.byPath.get(path) : undefined;
      if (!operation)
        throw new DataApiError("UnknownOperationException", `No operation at ${req.method} ${path}`);
      const output = toJson(await operation(parseBody(body)));
      if (Buffer.byteLength(output) > MAX_RESPONSE_BYTES) throw badRequest(RESULT_TOO_LARGE);
      this.#send(res, 200, output, {});
    } catch (error) {
      const response = dataApiErrorResponse(toDataApiError(error));
      this.#send(res, response.status, response.body, response.headers);
      if (raw === undefined) this.#linger(req);
    }
  }

  /**
   * After an answer sent before the body was read: the rest of the body is read and dropped (memory stays flat), so
   * a client still sending reads the answer rather than a reset, for at most LINGER_MS or LINGER_BYTES.
   */
  #linger(req: IncomingMessage): void {
    if (req.complete) return;
    const socket = req.socket;
    let dropped = 0;
    req.removeAllListeners("data");
    req.on("data", (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER_BYTES) socket.destroy();
    });
    req.resume();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    const clear = () => clearTimeout(timer);
    req.once("end", clear);
    socket.once("close", clear);
  }

  #resuming(body: string): DataApiError {
    let resourceArn = this.#clusters[0]?.resourceArn ?? "";
    try {
      const parsed = JSON.parse(body) as { resourceArn?: unknown };
      if (typeof parsed.resourceArn === "string") resourceArn = parsed.resourceArn;
    } catch {
      // The message only needs some instance to name.
    }
    return new DataApiError(
      "DatabaseResumingException",
      `The Aurora DB instance ${instanceResourceId(resourceArn)} is resuming after being auto-paused. ` +
        "Please wait a few seconds and try again.",
    );
  }

  /** The body, at most `limit` bytes: past it, the read stops and the request is refused (nothing more is kept). */
  #readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size <= limit) chunks.push(chunk);
        else {
          req.off("data", onData);
          chunks.length = 0;
          reject(tooLarge());
        }
      };
      req.on("data", onData);
      req.on("end", () => resolve(Buffer.concat(chunks)));
      req.on("error", reject);
      // A client that gives up mid-body never sends `end`; after a complete body this is a no-op.
      req.on("close", () => reject(new Error("the client closed the connection")));
    });
  }

  #send(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "x-amzn-RequestId": randomUUID(),
      ...headers,
    });
    res.end(body);
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const timer of this.#timers) clearTimeout(timer);
      this.#timers.clear();
      const closed = this.#listening
        ? new Promise<void>((resolve) => this.#server.close(() => resolve()))
        : Promise.resolve();
      this.#listening = false;
      for (const socket of this.#sockets) socket.destroy();
      await closed;
      await this.#transactions.closeAll();
      await this.#pools.end();
    })();
    return this.#stopping;
  }
}

/**
 * Starts a local Data API endpoint serving `clusters` (keyed by `resourceArn`) from the PostgreSQL server
 * `postgres`. With `fault: { mode: "down" }` it starts without listening, on a port reserved for when it comes up.
 */
export async function startDataApiEndpoint(options: DataApiEndpointOptions): Promise<DataApiEndpoint> {
  const endpoint = new LocalDataApiEndpoint(options);
  let port = options.port ?? 0;
  const host = options.host ?? "127.0.0.1";
  if (options.fault?.mode === "down") {
    // Starting `down`, pick a concrete free port now so the URL is known before the endpoint ever listens; a port
    // asked for must be free now (EADDRINUSE otherwise, as a listening start would fail), or the endpoint's URL would
    // lead to whoever holds it.
    if (port === 0) port = await freePort(host);
    else await assertPortFree(host, port);
  }
  await endpoint.start(port);
  return endpoint;
}
