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
import { DEFAULT_PACING } from "../../reshard/batches.js";
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

  it("give the reshard tool's pacing defaults as the tool has them", () => {
    const local = read("docs/local-runtime.md");
    const architecture = read("docs/architecture.md");
    expect(local).toContain(`(\`--batch\`, ${DEFAULT_PACING.batch} rows)`);
    expect(local).toContain(
      `(\`--nice ${DEFAULT_PACING.nice}\`, at least \`--pause-ms ${DEFAULT_PACING.pauseMs}\`;`,
    );
    expect(docs.deploy).toContain(`(${DEFAULT_PACING.batch} rows, then a pause as long as the`);
    expect(docs.deploy).toContain(
      `(\`--nice ${DEFAULT_PACING.nice}\`, at least \`--pause-ms\` ${DEFAULT_PACING.pauseMs})`,
    );
    expect(docs.deploy).toContain(`\`--batch\` rows (${DEFAULT_PACING.batch} by default)`);
    expect(architecture.replace(/\s+/g, " ")).toContain(
      `\`--batch\` rows, ${DEFAULT_PACING.batch} by default`,
    );
    expect(architecture.replace(/\s+/g, " ")).toContain(`${DEFAULT_PACING.nice} by default, as gh-ost's`);
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
    expect(metrics).toEqual(
      new Set([
        "PartialResponses",
        "ShardTimeouts",
        "ShardErrors",
        "Errors",
        "Throttles",
        "Duration",
        "5xx",
        "Latency",
        "ACUUtilization",
      ]),
    );
    const alarms = docs.observability.slice(docs.observability.indexOf("**Alarms**"));
    for (const metric of metrics) expect(alarms).toContain(`\`${metric}\``);
    // They reach someone: the topic, and the e-mail setting.
    expect(alarms).toContain("SNS topic");
    expect(docs.deploy).toContain("`alarmEmail`");
  });

  it("count in the cost table what the template creates: instances, secrets, alarms, the dashboard, custom metrics", () => {
    const costs = section(docs.deploy, "What it costs at rest");
    const count = (type: string) => Object.keys(template.findResources(type)).length;
    const clusters = Object.values(template.findResources("AWS::RDS::DBCluster"));
    // Aurora-managed master secrets are billed like any secret but are not resources of the template.
    const secrets =
      count("AWS::SecretsManager::Secret") +
      clusters.filter((c) => c.Properties.ManageMasterUserPassword === true).length;
    expect(secrets).toBe(6);
    expect(costs).toContain(`${secrets} secrets × $0.40`);
    expect(costs).toContain(`$${(secrets * 0.4).toFixed(2)} / month`);
    const instances = count("AWS::RDS::DBInstance");
    expect(costs).toContain(`${instances} instances (3 writers, 3 readers)`);
    expect(costs).toContain(
      `${instances} × 0.5 × 0.12 × 730 h ≈ **$${Math.round(instances * 0.5 * 0.12 * 730)} / month**`,
    );
    const alarms = count("AWS::CloudWatch::Alarm");
    expect(costs).toContain(`CloudWatch alarms: ${alarms} × $0.10`);
    expect(count("AWS::CloudWatch::Dashboard")).toBe(1);
    expect(costs).toContain("CloudWatch dashboard: 1");
    // The function's EMF metrics: 6 per shard (dimension shard) and 2 for the whole API.
    const perShard = [
      "ShardLatency",
      "ShardTimeouts",
      "ShardErrors",
      "ShardUnavailable",
      "BreakerOpened",
      "BreakerClosed",
    ];
    const customMetrics = perShard.length * clusters.length + 2;
    for (const name of [...perShard, "PartialResponses", "RequestLatency"])
      expect(docs.observability).toContain(name);
    expect(costs).toContain(`Custom metrics: ${customMetrics}`);
    // The paused demo: the secrets and the alarms stay billed, so never "$1 to $2".
    expect(costs).toContain(`at least about $${(secrets * 0.4 + alarms * 0.1).toFixed(2)} per month`);
    expect(everyPage).not.toMatch(/\$1 to \$2 per month/);
  });

  it("say the HTTP API's integration timeout is 30 s, and that the throttle applies per route", () => {
    expect(docs.deploy).toContain("HTTP API's 30 s integration timeout");
    expect(docs.deploy).not.toMatch(/29 \(API Gateway's limit\)/);
    expect(docs.deploy).toMatch(/throttleRateLimit`\s*\|[^\n]*\*\*per route\*\*/);
    expect(docs.deploy).not.toContain("requests per second for the whole stage");
    for (const what of ["AWS WAF", "per-client throttling", "CloudFront"])
      expect(docs.deploy).toContain(what);
  });

  it("plan a failover test, and tell the rotation story of both kinds of secret", () => {
    const failover = section(docs.deploy, "Failover");
    expect(failover).toContain("aws rds failover-db-cluster");
    expect(failover).toContain("Failover test plan");
    const rotation = section(docs.deploy, "Secrets and their rotation");
    for (const claim of ["ManageMasterUserPassword", "sharded_api_clone", "alternat", "rotate-secret"]) {
      expect(rotation).toContain(claim);
    }
  });

  it("keep the function secrets at teardown, and say so", () => {
    const teardown = section(docs.deploy, "Teardown");
    expect(teardown).toContain("**function secrets**");
    template.allResources("AWS::SecretsManager::Secret", { DeletionPolicy: "Retain" });
  });

  it("name the SAM CLI version that knows nodejs24.x, and rootless Docker's host-gateway", () => {
    expect(docs.sam).toContain("SAM CLI 1.147.1 or later");
    expect(docs.sam).toContain("Rootless Docker");
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
