import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { App } from "../functions/app.js";
import { MAX_BODY_BYTES } from "../functions/http/body.js";
import { errorResponse } from "../functions/http/response.js";
import { crossSiteWriteRefusal, hostRefusal, withoutCors } from "./admin-guard.js";
import { toApiGatewayEvent, writeApiResponse } from "./api-gateway-event.js";

/**
 * The app refuses a body over MAX_BODY_BYTES (16 KiB) with `413 body_too_large`; the local server stops reading at
 * that point and answers the same at once, instead of buffering up to API Gateway's own 10 MB payload limit first.
 * In AWS a body between 16 KiB and 10 MB reaches the function and gets this very answer; over 10 MB API Gateway
 * answers `413 {"message":"Request Entity Too Large"}` itself, before the function. Locally both are the app's
 * `body_too_large`: one code for one problem. (Choice: the local server applies the limit to every route, including
 * those that ignore bodies, where AWS would pass a body up to 10 MB to the app unread.)
 */
const TOO_LARGE = () =>
  errorResponse(413, "body_too_large", `body: must be at most ${MAX_BODY_BYTES} bytes`, {
    connection: "close",
  });

/** How long, and how much, of a refused upload is read and dropped before its connection is cut. */
const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;

/** Answers a request itself (the local admin routes) or returns false to pass it on to the app. */
export type SideRoute = (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<boolean>;

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** The body, or `undefined` as soon as it is known to exceed MAX_BODY_BYTES (nothing past the limit is kept). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers["content-length"] ?? 0) > MAX_BODY_BYTES) {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.off("data", onData);
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * Answers 413 and closes the connection. A little more of the upload is read and dropped (memory stays flat) so a
 * client still sending gets to read the answer rather than a reset; after LINGER_BYTES or LINGER_MS the socket is
 * cut, so a refused 10 MB upload costs the server about 1 MiB of reading, not 10.
 */
function refuseTooLarge(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  let dropped = 0;
  req.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) socket.destroy();
  });
  writeApiResponse(res, TOO_LARGE());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

/**
 * The local door to the app: each HTTP request becomes the API Gateway v2 event AWS would send and goes through the
 * very same app function as the Lambda handler.
 */
export async function startApiServer(opts: {
  app: App;
  port?: number;
  host?: string;
  sideRoute?: SideRoute;
  /** The Lambda timeout the local server imitates, so the app sees a remaining time as in AWS. */
  lambdaTimeoutMs?: number;
}): Promise<ApiServer> {
  const host = opts.host ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  // The listener's own address, when it is not loopback (`host: "0.0.0.0"` excepted: it is no name to address).
  const ownHost = new Set(
    host === "0.0.0.0" || host === "::" ? [] : [host.includes(":") ? `[${host}]` : host],
  );
  const server = createServer(async (req, res) => {
    try {
      // Before anything is read: a request addressed to another name (DNS rebinding), or a write a browser sends
      // for another site's page, reaches no route (local/admin-guard.ts). The refusal keeps the API's CORS headers,
      // as every answer of the API does: reading it tells a page nothing but that it was refused (the admin routes,
      // `/_local/…`, send none, as ever).
      const refusal = hostRefusal(req, ownHost) ?? crossSiteWriteRefusal(req);
      if (refusal) {
        writeApiResponse(res, (req.url ?? "").startsWith("/_local") ? withoutCors(refusal) : refusal);
        return;
      }
      const body = await readBody(req);
      if (body === undefined) {
        refuseTooLarge(req, res);
        return;
      }
      if (opts.sideRoute && (await opts.sideRoute(req, res, body))) return;
      const started = Date.now();
      const timeout = opts.lambdaTimeoutMs;
      const context = timeout
        ? { getRemainingTimeInMillis: () => timeout - (Date.now() - started) }
        : undefined;
      writeApiResponse(res, await opts.app(toApiGatewayEvent(req, body), context));
    } catch (err) {
      // The app answers every error itself; reaching here means the local server is broken, so say it loudly.
      console.error("local server error", err);
      if (!res.headersSent)
        writeApiResponse(res, errorResponse(500, "internal_error", "internal server error"));
      else res.destroy();
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
