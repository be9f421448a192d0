/**
 * The guard of the local admin routes (`/_local/faults`, `/_local/shards`): only requests addressed to this machine by
 * a loopback name, and none a browser sends for another site's page.
 */
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { adminRefusal, hasLoopbackHost, isCrossSite } from "../../local/admin-guard.js";

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe("the local admin routes' guard", () => {
  it.each([
    "127.0.0.1",
    "127.0.0.1:3000",
    "localhost",
    "localhost:3000",
    "LOCALHOST:3000",
    "[::1]",
    "[::1]:3000",
  ])("accepts the loopback Host %s", (host) => {
    expect(hasLoopbackHost(req({ host }))).toBe(true);
    expect(adminRefusal(req({ host }), "/_local/shards")).toBeUndefined();
  });

  it.each([
    "evil.example",
    "evil.example:3000",
    "localhost.evil.example",
    "127.0.0.1.nip.io:3000",
    "[::2]:3000",
    "",
  ])(
    "refuses the Host %j with 403 host_refused (a rebound DNS name reaches 127.0.0.1 but keeps its own Host)",
    (host) => {
      const refusal = adminRefusal(req(host === "" ? {} : { host }), "/_local/shards");
      expect(refusal?.statusCode).toBe(403);
      expect(JSON.parse(refusal?.body ?? "{}")).toMatchObject({ error: { code: "host_refused" } });
    },
  );

  it("refuses a loopback request a browser sends for another site's page with 403 cross_site_refused", () => {
    const refusal = adminRefusal(
      req({ host: "127.0.0.1:3000", origin: "https://evil.example" }),
      "/_local/faults",
    );
    expect(refusal?.statusCode).toBe(403);
    expect(JSON.parse(refusal?.body ?? "{}")).toMatchObject({ error: { code: "cross_site_refused" } });
    expect(isCrossSite(req({ host: "127.0.0.1:3000", "sec-fetch-site": "none" }))).toBe(false);
    expect(isCrossSite(req({ host: "127.0.0.1:3000", origin: "http://127.0.0.1:3000" }))).toBe(false);
  });
});
