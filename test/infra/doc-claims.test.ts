/**
 * The promises of README.md and docs/ about the deployed stack, checked against the code and the synthesized
 * template: versions, the alarms, the SAM steps and the first-deploy story. Each claim is checked on the page that
 * states it; the README's short deploy and SAM sections are checked too, since a newcomer copies them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NODE_RUNTIME, REPO_ROOT } from "../../infra/constructs/api-function.js";
import { ENGINE_VERSION } from "../../infra/constructs/shard-cluster.js";
import { synthesize } from "./synth.js";

const read = (path: string) => readFileSync(join(REPO_ROOT, path), "utf8");
const readme = read("README.md");
const docs = {
  deploy: read("docs/deploy.md"),
  observability: read("docs/observability.md"),
  sam: read("docs/sam.md"),
};
/** README.md and every page of docs/, for claims that must hold wherever they are made. */
const everyPage = [
  readme,
  ...readdirSync(join(REPO_ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => read(`docs/${f}`)),
].join("\n");
/** A `## title` section of a page, up to the next `## `. */
const section = (page: string, title: string) => {
  const start = page.indexOf(`\n## ${title}`);
  expect(start, `section "## ${title}"`).not.toBe(-1);
  const end = page.indexOf("\n## ", start + 4);
  return page.slice(start, end === -1 ? undefined : end);
};
const { template } = synthesize();

describe("the README and docs/", () => {
  it("name the Lambda runtime the stack deploys, and no other Node.js for it", () => {
    const major = NODE_RUNTIME.name.match(/^nodejs(\d+)\.x$/)?.[1];
    expect(readme).toContain(`one Lambda (Node.js ${major}, arm64`);
    expect(docs.sam).toContain(`\`${NODE_RUNTIME.name}\``);
    const stated = [...everyPage.matchAll(/Lambda[^.\n]{0,40}Node\.js (\d+)/g)].map(([, n]) => n);
    expect(stated.length).toBeGreaterThan(0);
    for (const n of stated) expect(n).toBe(major);
  });

  it("name the Aurora PostgreSQL version the clusters run, and where the Data API is missing", () => {
    const version = ENGINE_VERSION.auroraPostgresFullVersion;
    template.allResourcesProperties("AWS::RDS::DBCluster", { EngineVersion: version });
    expect(docs.deploy).toContain(`Aurora PostgreSQL ${version} Serverless v2`);
    expect(everyPage).not.toMatch(/all major regions/);
    for (const region of ["Hyderabad", "Melbourne", "New Zealand"]) expect(docs.deploy).toContain(region);
  });

  it("list every alarm the stack creates, by metric", () => {
    const metrics = new Set(
      Object.values(template.findResources("AWS::CloudWatch::Alarm")).map(
        (a) => a.Properties.MetricName as string,
      ),
    );
    expect(metrics).toEqual(new Set(["PartialResponses", "ShardTimeouts", "ShardErrors"]));
    const alarms = docs.observability.slice(docs.observability.indexOf("**Alarms**"));
    for (const metric of metrics) expect(alarms).toContain(`\`${metric}\``);
  });

  it("run sam local against host.docker.internal, with --add-host on Linux, never --docker-network host", () => {
    for (const sam of [docs.sam, section(readme, "sam local invoke")]) {
      expect(sam).toContain("--env-vars events/env.container.json");
      expect(sam).toContain("--add-host host.docker.internal:host-gateway");
      expect(sam).toContain("DATA_API_HOST=");
      expect(sam).not.toMatch(/^\s*sam .*--docker-network host/m);
    }
  });

  it("deploy a first time without deletion protection, then with it", () => {
    const deploy = docs.deploy;
    expect(deploy).toContain("npx cdk deploy -c deletionProtection=false");
    expect(deploy).toContain("ROLLBACK_FAILED");
    expect(section(readme, "Deploy (`cdk deploy`)")).toContain("[docs/deploy.md](docs/deploy.md)");
    // The default is protected, and the context key turns it off: what the two deploys rely on.
    template.allResourcesProperties("AWS::RDS::DBCluster", { DeletionProtection: true });
    synthesize({ deletionProtection: "false" }).template.allResourcesProperties("AWS::RDS::DBCluster", {
      DeletionProtection: false,
    });
  });
});
