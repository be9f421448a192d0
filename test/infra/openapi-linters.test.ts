import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../infra/constructs/api-function.js";

// Preloaded into every Node process the linters start: records each process that loads it, and every outgoing
// connection or DNS lookup (fetch and the telemetry exporters end in net.Socket#connect or dns.lookup).
const NET_PROBE = `
const fs = require("node:fs"), net = require("node:net"), dns = require("node:dns");
const log = (line) => fs.appendFileSync(process.env.NET_PROBE_LOG, line + "\\n");
fs.appendFileSync(process.env.NET_PROBE_LOADED, process.pid + "\\n");
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  log("connect " + JSON.stringify(args[0]?.host ?? args[0]?.path ?? args[0]));
  return connect.apply(this, args);
};
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) { log("dns " + host); return lookup.call(this, host, ...rest); };
`;

const dir = mkdtempSync(join(tmpdir(), "openapi-linters-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the OpenAPI linters (`npm run lint:openapi`)", () => {
  it("pass the document with no finding, without opening any network connection", () => {
    const probe = join(dir, "probe.cjs");
    const netLog = join(dir, "net.log");
    const loaded = join(dir, "loaded.log");
    writeFileSync(probe, NET_PROBE);
    const script = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).scripts["lint:openapi"];
    // The script as npm runs it: a shell with node_modules/.bin first on PATH.
    const output = execFileSync("sh", ["-c", script], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        PATH: `${join(REPO_ROOT, "node_modules", ".bin")}${delimiter}${process.env.PATH}`,
        NODE_OPTIONS: `--require ${probe}`,
        NET_PROBE_LOG: netLog,
        NET_PROBE_LOADED: loaded,
      },
    });
    expect(output).toContain("No results with a severity of 'warn' or higher found!");
    expect(readFileSync(loaded, "utf8").trim().split("\n").length).toBeGreaterThanOrEqual(2); // both linters ran probed
    expect(existsSync(netLog) ? readFileSync(netLog, "utf8") : "").toBe("");
  }, 120_000);
});
