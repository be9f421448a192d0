import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { API_FUNCTION_LOGICAL_ID, REPO_ROOT } from "../../infra/constructs/api-function.js";
import { synthesize } from "./synth.js";

const envFile = JSON.parse(readFileSync(join(REPO_ROOT, "events", "env.json"), "utf8")) as Record<
  string,
  Record<string, string>
>;
const { template } = synthesize();
const declared = Object.keys(
  template.findResources("AWS::Lambda::Function")[API_FUNCTION_LOGICAL_ID]?.Properties.Environment
    .Variables ?? {},
);

describe("events/env.json for sam local invoke --env-vars", () => {
  it("names the function by the logical ID the synthesized template gives it", () => {
    expect(Object.keys(envFile)).toEqual([API_FUNCTION_LOGICAL_ID]);
  });

  it("sets only variables the template declares, since SAM ignores any other", () => {
    const overrides = Object.keys(envFile[API_FUNCTION_LOGICAL_ID] ?? {});
    expect(overrides.length).toBeGreaterThan(0);
    for (const name of overrides) expect(declared).toContain(name);
  });

  it("is a configuration the function accepts, with the default shard map on local Data API endpoints", () => {
    const config = loadConfig(envFile[API_FUNCTION_LOGICAL_ID] ?? {});
    expect(config.shards.map(({ id, ranges }) => ({ id, ranges }))).toEqual(DEFAULT_SHARD_RANGES);
    for (const shard of config.shards) expect(shard.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
