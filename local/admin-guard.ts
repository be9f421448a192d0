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

/** The name in a request's `Host`, lower case, without its port (an IPv6 literal keeps its brackets). */
export function hostName(req: IncomingMessage): string {
  const host = (req.headers.host ?? "").toLowerCase();
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "");
}

/**
 * Whether the request names this machine in `Host` (any port): a loopback name, or one of `alsoAccepted` (a
 * listener's own non-loopback address, say). A page of another site that makes its own name resolve to 127.0.0.1
 * (DNS rebinding) is same-origin for the browser, so `Origin` and `Sec-Fetch-Site` cannot tell; its `Host` still
 * carries that other name.
 */
export function hasLoopbackHost(
  req: IncomingMessage,
  alsoAccepted: ReadonlySet<string> = new Set(),
): boolean {
  const name = hostName(req);
  return LOOPBACK_HOSTS.has(name) || alsoAccepted.has(name);
}

/** The refusal of a request addressed to a host name that is not this machine's (every local listener sends it). */
export function hostRefusal(req: IncomingMessage, alsoAccepted?: ReadonlySet<string>): Response | undefined {
  if (hasLoopbackHost(req, alsoAccepted)) return undefined;
  return errorResponse(
    403,
    "host_refused",
    "the local runtime answers only requests addressed to 127.0.0.1, localhost or [::1]",
    { connection: "close" },
  );
}

/** Methods that change nothing: a browser's cross-site read of the public API stays allowed. */
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The refusal of a write (any method but GET, HEAD, OPTIONS) that a web browser sends for a page of another site.
 * The deployed API needs SigV4 for writes, which no page has; the local API has no authentication, so it refuses
 * what only a browser sends on another site's behalf. Reads stay open to every origin, as the public API's are.
 */
export function crossSiteWriteRefusal(req: IncomingMessage): Response | undefined {
  if (READ_METHODS.has(req.method ?? "GET") || !isCrossSite(req)) return undefined;
  return errorResponse(403, "cross_site_refused", "the local API refuses writes from other sites' pages", {
    connection: "close",
  });
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
