import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { App } from "../functions/app.js";
import { errorResponse } from "../functions/http/response.js";
import { toApiGatewayEvent, writeApiResponse } from "./api-gateway-event.js";

/** API Gateway HTTP API refuses payloads over 10 MB; the local server refuses them as early. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

/** Answers a request itself (the local admin routes) or returns false to pass it on to the app. */
export type SideRoute = (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<boolean>;

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_PAYLOAD_BYTES) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
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
  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      if (body === undefined) {
        writeApiResponse(res, errorResponse(413, "payload_too_large", "request payload is over 10 MB"));
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
