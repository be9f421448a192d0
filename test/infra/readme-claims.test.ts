/**
 * The README's promises about the deployed stack, checked against the code and the synthesized template: versions,
 * the alarms, the SAM steps and the first-deploy story.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NODE_RUNTIME, REPO_ROOT } from "../../infra/constructs/api-function.js";
import { ENGINE_VERSION } from "../../infra/constructs/shard-cluster.js";
import { synthesize } from "./synth.js";

const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const section = (title: string) => {
  const start = readme.indexOf(`\n## ${title}`);
  const end = readme.indexOf("\n## ", start + 4);
  return readme.slice(start, end === -1 ? undefined : end);
};
const { template } = synthesize();

describe("the README", () => {
  it("names the Lambda runtime the stack deploys, and no other Node.js for it", () => {
    const major = NODE_RUNTIME.name.match(/^nodejs(\d+)\.x$/)?.[1];
    expect(readme).toContain(`one Lambda (Node.js ${major}, arm64`);
    expect(readme).toContain(`\`${NODE_RUNTIME.name}\``);
    for (const [, stated] of readme.matchAll(/Lambda[^.\n]{0,40}Node\.js (\d+)/g)) expect(stated).toBe(major);
  });

  it("names the Aurora PostgreSQL version the clusters run, and where the Data API is missing", () => {
    const version = ENGINE_VERSION.auroraPostgresFullVersion;
    template.allResourcesProperties("AWS::RDS::DBCluster", { EngineVersion: version });
    expect(section("Deploy (`cdk deploy`)")).toContain(`Aurora PostgreSQL ${version} Serverless v2`);
    expect(readme).not.toMatch(/all major regions/);
    for (const region of ["Hyderabad", "Melbourne", "New Zealand"]) expect(readme).toContain(region);
  });

  it("lists every alarm the stack creates, by metric", () => {
    const metrics = new Set(
      Object.values(template.findResources("AWS::CloudWatch::Alarm")).map(
        (a) => a.Properties.MetricName as string,
      ),
    );
    expect(metrics).toEqual(new Set(["PartialResponses", "ShardTimeouts", "ShardErrors"]));
    const alarms = section("Observability").slice(section("Observability").indexOf("**Alarms**"));
    for (const metric of metrics) expect(alarms).toContain(`\`${metric}\``);
  });

  it("runs sam local against host.docker.internal, with --add-host on Linux, never --docker-network host", () => {
    const sam = section("sam local invoke");
    expect(sam).toContain("--env-vars events/env.container.json");
    expect(sam).toContain("--add-host host.docker.internal:host-gateway");
    expect(sam).toContain("DATA_API_HOST=");
    expect(sam).not.toMatch(/^\s*sam .*--docker-network host/m);
  });

  it("deploys a first time without deletion protection, then with it", () => {
    const deploy = section("Deploy (`cdk deploy`)");
    expect(deploy).toContain("npx cdk deploy -c deletionProtection=false");
    expect(deploy).toContain("ROLLBACK_FAILED");
    // The default is protected, and the context key turns it off: what the two deploys rely on.
    template.allResourcesProperties("AWS::RDS::DBCluster", { DeletionProtection: true });
    synthesize({ deletionProtection: "false" }).template.allResourcesProperties("AWS::RDS::DBCluster", {
      DeletionProtection: false,
    });
  });
});
