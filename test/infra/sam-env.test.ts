import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { API_FUNCTION_LOGICAL_ID, REPO_ROOT } from "../../infra/constructs/api-function.js";
import { localArns } from "../../local/arns.js";
import { samDataApiPort } from "../../local/sam-endpoints.js";
import { synthesize } from "./synth.js";

const { template } = synthesize();
const declared = Object.keys(
  template.findResources("AWS::Lambda::Function")[API_FUNCTION_LOGICAL_ID]?.Properties.Environment
    .Variables ?? {},
);
const read = (name: string) =>
  JSON.parse(readFileSync(join(REPO_ROOT, "events", name), "utf8")) as Record<string, Record<string, string>>;

// env.json: SAM with host networking or the function run on the host; env.container.json: a Lambda container on
// Docker's bridge, which reaches the host as host.docker.internal (on Linux: --add-host host.docker.internal:host-gateway).
describe.each([
  ["env.json", "127.0.0.1"],
  ["env.container.json", "host.docker.internal"],
])("events/%s for sam local invoke --env-vars", (file, host) => {
  const envFile = read(file);

  it("names the function by the logical ID the synthesized template gives it", () => {
    expect(Object.keys(envFile)).toEqual([API_FUNCTION_LOGICAL_ID]);
  });

  it("sets only variables the template declares, since SAM ignores any other", () => {
    const overrides = Object.keys(envFile[API_FUNCTION_LOGICAL_ID] ?? {});
    expect(overrides.length).toBeGreaterThan(0);
    for (const name of overrides) expect(declared).toContain(name);
  });

  it(`points each shard at npm start's Data API endpoint for it on ${host}, with its database and ARNs`, () => {
    const config = loadConfig(envFile[API_FUNCTION_LOGICAL_ID] ?? {});
    expect(config.shards.map(({ id, ranges }) => ({ id, ranges }))).toEqual(DEFAULT_SHARD_RANGES);
    for (const shard of config.shards) {
      expect(shard.endpoint).toBe(`http://${host}:${samDataApiPort(shard.id)}`);
      // npm start creates the databases with the prefix "local" and the ARNs of localArns; the function signs in
      // with its own role's secret, as in AWS.
      expect(shard.database).toBe(`local_shard${shard.id}`);
      const arns = localArns(shard.id);
      expect({ resourceArn: shard.resourceArn, secretArn: shard.secretArn }).toEqual({
        resourceArn: arns.resourceArn,
        secretArn: arns.functionSecretArn,
      });
    }
  });
});

describe("the two env files", () => {
  it("differ only in the host of the Data API endpoints", () => {
    const local = JSON.stringify(read("env.json"));
    const container = JSON.stringify(read("env.container.json"));
    expect(container.replaceAll("host.docker.internal", "127.0.0.1")).toBe(local);
  });
});
