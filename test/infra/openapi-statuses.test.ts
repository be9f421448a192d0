/**
 * What issue 20 found misleading in openapi.yaml, checked on the document itself (the integration test
 * test/integration/openapi-contract.test.ts checks every status the running server answers against it).
 */
import { describe, expect, it } from "vitest";
import { contract, deref, operations } from "../helpers/openapi-contract.js";

const schemas = (contract.components as { schemas: Record<string, Record<string, unknown>> }).schemas;

describe("openapi.yaml", () => {
  it("maps each shard report's status value to its schema, so generated clients compare against what the server sends", () => {
    const report = schemas.ShardReport as {
      discriminator: { propertyName: string; mapping: Record<string, string> };
      oneOf: { $ref: string }[];
    };
    expect(report.discriminator.propertyName).toBe("status");
    const byValue = Object.fromEntries(
      report.oneOf.map(({ $ref }) => {
        const schema = deref(contract, { $ref }) as { properties: { status: { const: string } } };
        return [schema.properties.status.const, $ref];
      }),
    );
    expect(report.discriminator.mapping).toEqual(byValue);
    expect(Object.keys(byValue).sort()).toEqual(["error", "ok", "skipped", "timeout", "unavailable"]);
  });

  it("declares on every operation the statuses any route can answer: 413 (any body over 16 KiB) and 500", () => {
    for (const { method, path, op } of operations(contract)) {
      const statuses = Object.keys(deref(contract, op.responses));
      expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(["413", "500"]));
    }
  });

  it("tells clients about API Gateway's own 500: its body, and that it has no CORS headers", () => {
    const internal = deref(contract, { $ref: "#/components/responses/InternalError" });
    expect(String(internal.description)).toMatch(/Internal Server Error.*without CORS headers/s);
    const headers = Object.values(internal.headers as Record<string, unknown>).map((h) => deref(contract, h));
    for (const header of headers) expect(header.required ?? false).toBe(false);
    expect(JSON.stringify(internal.content)).toContain("#/components/schemas/GatewayMessage");
  });

  it("no longer says a failed shard makes GET /data/{id} a 404", () => {
    const get = operations(contract).find((o) => o.method === "GET" && o.path === "/data/{id}");
    const description = String(get?.op.description);
    expect(description).not.toMatch(/failed are both `404/);
    expect(description).toContain("never a 404");
    expect(description).toContain("503 shard_unavailable");
  });
});
