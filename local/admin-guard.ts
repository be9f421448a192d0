import type { IncomingMessage } from "node:http";
import { errorResponse } from "../functions/http/response.js";
import type { writeApiResponse } from "./api-gateway-event.js";

type Response = Parameters<typeof writeApiResponse>[1];

/** The app's responses allow any origin (a public read API); the local admin routes allow none. */
export function withoutCors(response: Response): Response {
  const headers = Object.fromEntries(
    Object.entries(response.headers).filter(([name]) => !name.toLowerCase().startsWith("access-control-")),
  );
  return { ...response, headers };
}

/**
 * A request a browser sends for a page of another site: it says so in `Sec-Fetch-Site`, or (older browsers) in an
 * `Origin` that is not this server's own. curl and scripts send neither.
 */
export function isCrossSite(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) return site !== "same-origin" && site !== "none";
  const origin = req.headers.origin;
  return origin !== undefined && origin !== `http://${req.headers.host ?? ""}`;
}

/** The host names that only ever mean this machine. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * Whether the request names this machine in `Host` (any port). A page of another site that makes its own name resolve
 * to 127.0.0.1 (DNS rebinding) is same-origin for the browser, so `Origin` and `Sec-Fetch-Site` cannot tell; its
 * `Host` still carries that other name.
 */
export function hasLoopbackHost(req: IncomingMessage): boolean {
  const host = (req.headers.host ?? "").toLowerCase();
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
  return LOOPBACK_HOSTS.has(name);
}

/**
 * The guard of every local admin route (`/_local/...`): the refusal to send for a request from a web page of another
 * site, or for one addressed to a host name other than this machine's; undefined when the request may proceed.
 */
export function adminRefusal(req: IncomingMessage, path: string): Response | undefined {
  if (!hasLoopbackHost(req)) {
    return errorResponse(
      403,
      "host_refused",
      `${path} answers only requests addressed to 127.0.0.1, localhost or [::1]`,
    );
  }
  if (isCrossSite(req)) {
    return errorResponse(403, "cross_site_refused", `${path} refuses requests from other sites`);
  }
  return undefined;
}
