import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { CfnElement } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { DEFAULT_SHARD_RANGES } from "../../functions/core/shard-map.js";
import { ROUTE_TABLE, routeKey } from "../../functions/http/route-table.js";
import { METRIC } from "../../functions/observability/metrics.js";
import { API_FUNCTION_LOGICAL_ID, REPO_ROOT } from "../../infra/constructs/api-function.js";
import {
  SAMPLE_ROWS_RESOURCE_TYPE,
  SCHEMA_HANDLER_TIMEOUT,
  SCHEMA_SERVICE_TIMEOUT,
  TABLE_RESOURCE_TYPE,
} from "../../infra/constructs/schema.js";
import { ENGINE_VERSION } from "../../infra/constructs/shard-cluster.js";
import { RETRY_BUDGET_MS } from "../../infra/handlers/statement-retry.js";
import { asArray, policyStatements, render } from "./intrinsics.js";
import { synthesize } from "./synth.js";

// One synthesis with bundling for the whole file: esbuild runs once.
const { app, stack, template } = synthesize({}, { bundle: true });

function resourceOf(type: string, logicalId: string) {
  const found = template.findResources(type)[logicalId];
  if (found === undefined) throw new Error(`no ${type} ${logicalId} in the template`);
  return found;
}

const fn = resourceOf("AWS::Lambda::Function", API_FUNCTION_LOGICAL_ID);
const env: Record<string, string> = Object.fromEntries(
  Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>).map(([key, value]) => [
    key,
    render(template, value),
  ]),
);
const clusterArns = stack.shards.map((shard) => render(template, stack.resolve(shard.clusterArn)));
const secretArns = stack.shards.map((shard) => render(template, stack.resolve(shard.secret.secretArn)));
const functionSecretArns = stack.shards.map((shard) =>
  render(template, stack.resolve(shard.functionSecret.secretArn)),
);

describe("the network", () => {
  it("has isolated subnets in two zones and no NAT gateway or internet gateway", () => {
    template.resourceCountIs("AWS::EC2::NatGateway", 0);
    template.resourceCountIs("AWS::EC2::InternetGateway", 0);
    const subnets = Object.values(template.findResources("AWS::EC2::Subnet"));
    expect(subnets).toHaveLength(2);
    for (const subnet of subnets) expect(subnet.Properties.MapPublicIpOnLaunch ?? false).toBe(false);
  });

  it("records every flow of the VPC in CloudWatch Logs", () => {
    template.hasResourceProperties("AWS::EC2::FlowLog", {
      ResourceType: "VPC",
      TrafficType: "ALL",
      LogDestinationType: "cloud-watch-logs",
    });
  });

  it("keeps the function out of the VPC, since the Data API needs none", () => {
    expect(fn.Properties.VpcConfig).toBeUndefined();
  });
});

describe("the shards", () => {
  it("are three Aurora PostgreSQL Serverless v2 clusters with the Data API, encryption and IAM auth", () => {
    template.resourceCountIs("AWS::RDS::DBCluster", 3);
    template.allResourcesProperties("AWS::RDS::DBCluster", {
      Engine: "aurora-postgresql",
      EngineVersion: ENGINE_VERSION.auroraPostgresFullVersion,
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      EnableIAMDatabaseAuthentication: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 2 },
      BackupRetentionPeriod: 7,
    });
    for (const { id } of DEFAULT_SHARD_RANGES) {
      template.hasResourceProperties("AWS::RDS::DBCluster", { DatabaseName: `shard${id}` });
    }
  });

  it("stay warm by default: no auto-pause, so no shard answers DatabaseResumingException", () => {
    for (const cluster of Object.values(template.findResources("AWS::RDS::DBCluster"))) {
      expect(cluster.Properties.ServerlessV2ScalingConfiguration.SecondsUntilAutoPause).toBeUndefined();
    }
  });

  it("each have a Serverless v2 writer and a failover reader (promotion tier 1) in the other Availability Zone", () => {
    template.resourceCountIs("AWS::RDS::DBInstance", 6);
    template.allResourcesProperties("AWS::RDS::DBInstance", {
      DBInstanceClass: "db.serverless",
      Engine: "aurora-postgresql",
      EnablePerformanceInsights: true,
    });
    const instances = Object.values(template.findResources("AWS::RDS::DBInstance"));
    for (const clusterId of Object.keys(template.findResources("AWS::RDS::DBCluster"))) {
      const own = instances.filter((i) => i.Properties.DBClusterIdentifier.Ref === clusterId);
      expect(own).toHaveLength(2);
      const [writer, reader] = [...own].sort(
        (a, b) => a.Properties.PromotionTier - b.Properties.PromotionTier,
      );
      expect([writer?.Properties.PromotionTier, reader?.Properties.PromotionTier]).toEqual([0, 1]);
      // Fn::Select of the region's zones: the writer in the first, the reader in the second.
      const zone = (i: typeof writer) => i?.Properties.AvailabilityZone["Fn::Select"][0];
      expect([zone(writer), zone(reader)]).toEqual([0, 1]);
    }
  });

  it("each have an Aurora-managed master secret and a generated secret for the function's role, of their own", () => {
    // The master secret is Aurora's (ManageMasterUserPassword): rotated by Aurora, not a resource of the template.
    template.allResourcesProperties("AWS::RDS::DBCluster", {
      ManageMasterUserPassword: true,
      MasterUsername: "postgres",
      MasterUserPassword: Match.absent(),
    });
    template.resourceCountIs("AWS::SecretsManager::Secret", 3);
    template.allResourcesProperties("AWS::SecretsManager::Secret", {
      GenerateSecretString: Match.objectLike({
        GenerateStringKey: "password",
        SecretStringTemplate: Match.objectLike({
          "Fn::Join": ["", Match.arrayWith([Match.stringLikeRegexp('"username":"sharded_api"')])],
        }),
      }),
    });
    expect(secretArns.every((arn) => arn.endsWith(".MasterUserSecret.SecretArn"))).toBe(true);
    expect(new Set([...secretArns, ...functionSecretArns]).size).toBe(6);
  });

  it("each get the function's least-privilege role, created after the table, with no password in the template", () => {
    const roles = template.findResources("Custom::FunctionDatabaseRole");
    const tables = Object.keys(template.findResources("Custom::ShardTable"));
    expect(Object.keys(roles)).toHaveLength(3);
    const rendered = Object.values(roles).map((r) =>
      Object.fromEntries(
        Object.entries(r.Properties as Record<string, unknown>)
          .filter(([k]) => k !== "ServiceToken")
          .map(([k, v]) => [k, render(template, v)]),
      ),
    );
    expect(rendered).toEqual(
      stack.shards.map((shard, i) => ({
        ClusterArn: clusterArns[i],
        MasterSecretArn: secretArns[i],
        FunctionSecretArn: functionSecretArns[i],
        Database: shard.databaseName,
        TableName: "data_1",
        ShardTimeoutMs: "2000",
        // CloudFormation stops waiting after 11 minutes, as for the schema statements (the handler retries for 8).
        ServiceTimeout: "660",
      })),
    );
    for (const role of Object.values(roles)) {
      expect(tables.some((t) => (role.DependsOn as string[]).includes(t))).toBe(true);
    }
    // The password is generated by Secrets Manager and read at deploy time, never written into the template.
    const text = JSON.stringify(template.toJSON());
    expect(/\\?"SecretString\\?":|PASSWORD '|SCRAM-SHA-256/.test(text)).toBe(false);
  });

  it("let the role-creating function run ExecuteStatement on the clusters and read exactly their two secrets", () => {
    const statements = policyStatements(template).filter(({ policy }) => policy.startsWith("FunctionDbRole"));
    const granted = statements
      .flatMap(({ statement }) =>
        asArray(statement.Action).flatMap((action) =>
          asArray(statement.Resource).map((r) => `${action} ${render(template, r)}`),
        ),
      )
      .filter((grant) => !grant.startsWith("logs:"));
    expect(granted.sort()).toEqual(
      [
        ...clusterArns.map((arn) => `rds-data:ExecuteStatement ${arn}`),
        ...secretArns.map((arn) => `secretsmanager:GetSecretValue ${arn}`),
        ...functionSecretArns.map((arn) => `secretsmanager:GetSecretValue ${arn}`),
      ].sort(),
    );
  });

  it("are protected from deletion and leave a final snapshot by default", () => {
    template.allResourcesProperties("AWS::RDS::DBCluster", { DeletionProtection: true });
    template.allResources("AWS::RDS::DBCluster", {
      DeletionPolicy: "Snapshot",
      UpdateReplacePolicy: "Snapshot",
    });
  });
});

describe("the schema", () => {
  const tables = template.findResources(TABLE_RESOURCE_TYPE);
  const handlerId = stack.getLogicalId(
    stack.node.findChild("Schema").node.findChild("Handler").node.defaultChild as CfnElement,
  );
  const handlerFn = resourceOf("AWS::Lambda::Function", handlerId);
  const handlerRoleId = handlerFn.Properties.Role["Fn::GetAtt"][0] as string;
  const handlerPolicyIds = Object.entries(template.findResources("AWS::IAM::Policy"))
    .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${handlerRoleId}"`))
    .map(([id]) => id);

  it("creates data_1 on every shard with one idempotent Data API statement each", () => {
    const props = Object.values(tables).map((resource) => resource.Properties);
    expect(props).toHaveLength(3);
    for (const p of props) {
      expect(p.Sql).toBe('CREATE TABLE IF NOT EXISTS "data_1" (id INT PRIMARY KEY, name VARCHAR(255))');
    }
    expect(props.map((p) => p.Database).sort()).toEqual(["shard1", "shard2", "shard3"]);
    expect(new Set(props.map((p) => render(template, p.ResourceArn)))).toEqual(new Set(clusterArns));
    expect(new Set(props.map((p) => render(template, p.SecretArn)))).toEqual(new Set(secretArns));
    // A stable physical id per shard and statement: a changed statement updates, never replaces.
    expect(props.map((p) => p.PhysicalId).sort()).toEqual(
      ["shard1", "shard2", "shard3"].map((db) => `${db}/data_1/${TABLE_RESOURCE_TYPE}`),
    );
  });

  it("runs each statement through the retrying handler, which CloudFormation stops waiting for after its timeout", () => {
    for (const resource of Object.values(tables)) {
      expect(resource.Properties.ServiceToken).toEqual({ "Fn::GetAtt": [handlerId, "Arn"] });
      expect(resource.Properties.ServiceTimeout).toBe(String(SCHEMA_SERVICE_TIMEOUT.toSeconds()));
    }
    // The Lambda outlives the handler's retry budget, and CloudFormation outlives the Lambda.
    expect(handlerFn.Properties.Timeout).toBe(SCHEMA_HANDLER_TIMEOUT.toSeconds());
    expect(handlerFn.Properties.Timeout * 1000).toBeGreaterThan(RETRY_BUDGET_MS);
    expect(SCHEMA_SERVICE_TIMEOUT.toSeconds()).toBeGreaterThan(handlerFn.Properties.Timeout);
  });

  it("waits for each cluster's writer instance, which the Data API needs", () => {
    const instances = template.findResources("AWS::RDS::DBInstance");
    for (const resource of Object.values(tables)) {
      const clusterId = resource.Properties.ResourceArn["Fn::Join"][1].at(-1).Ref as string;
      const writer = Object.entries(instances).find(
        ([, i]) => i.Properties.DBClusterIdentifier.Ref === clusterId,
      );
      expect(writer).toBeDefined();
      expect(resource.DependsOn).toContain(writer?.[0]);
    }
  });

  it("waits for the handler's IAM policy, so no statement runs before its permissions exist", () => {
    expect(handlerPolicyIds.length).toBeGreaterThan(0);
    for (const resource of Object.values(tables)) {
      for (const policyId of handlerPolicyIds) expect(resource.DependsOn).toContain(policyId);
      expect(resource.DependsOn).toContain(handlerRoleId);
    }
    for (const policyId of handlerPolicyIds) expect(handlerFn.DependsOn).toContain(policyId);
  });

  it("loads no sample rows unless asked to", () => {
    template.resourceCountIs(SAMPLE_ROWS_RESOURCE_TYPE, 0);
  });
});

describe("what the stack keeps when it goes (default removalPolicy=snapshot)", () => {
  it("keeps each master secret, since a final snapshot is useless without its password", () => {
    template.allResources("AWS::SecretsManager::Secret", { DeletionPolicy: "Retain" });
    template.allResources("AWS::SecretsManager::SecretTargetAttachment", { DeletionPolicy: "Retain" });
  });

  it("deletes the network, which a snapshotted cluster no longer needs", () => {
    template.allResources("AWS::EC2::VPC", { DeletionPolicy: Match.absent() });
    template.allResources("AWS::EC2::Subnet", { DeletionPolicy: Match.absent() });
  });
});

describe("the function", () => {
  it("runs Node.js 24 on arm64 with a log group that expires", () => {
    expect(fn.Properties).toMatchObject({
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Handler: "index.handler",
    });
    const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
    expect(resourceOf("AWS::Logs::LogGroup", logGroupId).Properties.RetentionInDays).toBe(30);
  });

  it("outlives the shard timeout plus the margin it keeps to answer in", () => {
    const shardBudgetMs = Number(env.SHARD_TIMEOUT_MS) + Number(env.DEADLINE_MARGIN_MS);
    expect(env.SHARD_TIMEOUT_MS).toBe("2000");
    expect(fn.Properties.Timeout * 1000).toBeGreaterThan(shardBudgetMs);
  });

  it("gets a configuration its own loader accepts: the shard map, each cluster's ARN, secret and database", () => {
    const config = loadConfig(env);
    expect(config.shards.map(({ id, ranges, database }) => ({ id, ranges, database }))).toEqual(
      DEFAULT_SHARD_RANGES.map(({ id, ranges }) => ({ id, ranges, database: `shard${id}` })),
    );
    expect(config.shards.map((s) => s.resourceArn)).toEqual(clusterArns);
    // The function's own secrets, never the master secrets.
    expect(config.shards.map((s) => s.secretArn)).toEqual(functionSecretArns);
    expect(config.shards.every((s) => s.endpoint === undefined)).toBe(true);
    expect(env).toMatchObject({
      TABLE_NAME: "data_1",
      DEADLINE_MARGIN_MS: "250",
      SHARD_MAX_ATTEMPTS: "2",
      POWERTOOLS_SERVICE_NAME: "sharded-data-api",
      POWERTOOLS_METRICS_NAMESPACE: "ShardedDataApi",
      LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
    });
  });

  it("runs the newest Node.js runtime everywhere, the custom-resource provider included", () => {
    template.allResourcesProperties("AWS::Lambda::Function", { Runtime: "nodejs24.x" });
  });

  it("keeps every log group, each with a retention, when the stack goes", () => {
    template.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
    template.allResources("AWS::Logs::LogGroup", { DeletionPolicy: "Retain" });
  });
});

describe("the bundle", () => {
  const assetPath = fn.Metadata["aws:asset:path"] as string;
  const bundle = join(app.outdir, assetPath, "index.mjs");

  it("is one ES module with a source map and the pinned AWS SDK inside", () => {
    expect(statSync(`${bundle}.map`).isFile()).toBe(true);
    const code = readFileSync(bundle, "utf8");
    expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
    expect(code).toContain("ExecuteStatement");
    expect(statSync(bundle).size).toBeLessThan(3_000_000);
  });

  it("loads in Node and answers GET /health without touching a shard", () => {
    const event = JSON.parse(readFileSync(join(REPO_ROOT, "events", "health.json"), "utf8"));
    const script = [
      `const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});`,
      "const context = {",
      '  functionName: "api", functionVersion: "$LATEST", memoryLimitInMB: "512", awsRequestId: "test",',
      '  invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:api",',
      "  getRemainingTimeInMillis: () => 9000,",
      "};",
      `const result = await handler(${JSON.stringify(event)}, context);`,
      'console.log("RESULT " + JSON.stringify(result));',
    ].join("\n");
    const stdout = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, ...env, AWS_REGION: "us-east-1", LOG_LEVEL: "ERROR" },
      encoding: "utf8",
      timeout: 30_000,
    });
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    const result = JSON.parse(line?.slice("RESULT ".length) ?? "null");
    expect(result).toMatchObject({ statusCode: 200 });
    expect(JSON.parse(result.body)).toEqual({ status: "ok" });
  });
});

describe("the HTTP API", () => {
  it("builds its routes from the function's route table: reads public, writes behind IAM, plus a public $default", () => {
    const routes = Object.values(template.findResources("AWS::ApiGatewayV2::Route")).map((route) => [
      route.Properties.RouteKey,
      route.Properties.AuthorizationType,
    ]);
    expect(Object.fromEntries(routes)).toEqual({
      "GET /health": "NONE",
      "GET /data": "NONE",
      "GET /data/{id}": "NONE",
      "POST /data": "AWS_IAM",
      "PUT /data/{id}": "AWS_IAM",
      "DELETE /data/{id}": "AWS_IAM",
      $default: "NONE",
    });
    expect(routes.filter(([key]) => key !== "$default").map(([key, auth]) => `${key} ${auth}`)).toEqual(
      ROUTE_TABLE.map((r) => `${routeKey(r)} ${r.auth === "iam" ? "AWS_IAM" : "NONE"}`),
    );
  });

  it("has no CORS configuration, so the function's CORS headers and preflight answers reach clients unchanged", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Api", {
      ProtocolType: "HTTP",
      CorsConfiguration: Match.absent(),
    });
  });

  it("sends every route to the function with the 2.0 payload", () => {
    template.resourceCountIs("AWS::ApiGatewayV2::Integration", 1);
    template.hasResourceProperties("AWS::ApiGatewayV2::Integration", {
      IntegrationType: "AWS_PROXY",
      PayloadFormatVersion: "2.0",
    });
  });

  it("throttles its stage and writes an access log line per request", () => {
    template.resourceCountIs("AWS::ApiGatewayV2::Stage", 1);
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: {
        DestinationArn: { "Fn::GetAtt": [Match.anyValue(), "Arn"] },
        Format: Match.stringLikeRegexp("\\$context\\.requestId"),
      },
    });
  });

  it("outputs its URL, and each cluster's and secret's ARN", () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(render(template, outputs.ApiUrl?.Value)).toMatch(
      /^https:\/\/.+\.execute-api\.us-east-1\.amazonaws\.com\/$/,
    );
    for (const [i, shard] of stack.shards.entries()) {
      expect(render(template, outputs[`Shard${shard.shardId}ClusterArn`]?.Value)).toBe(clusterArns[i]);
      expect(render(template, outputs[`Shard${shard.shardId}SecretArn`]?.Value)).toBe(secretArns[i]);
    }
  });
});

describe("least privilege", () => {
  const statements = policyStatements(template);

  it("grants no wildcard action or resource anywhere in the stack, except X-Ray's, which has no resources", () => {
    for (const { policy, statement } of statements) {
      for (const action of asArray(statement.Action)) expect(action, policy).not.toContain("*");
      const xray = asArray(statement.Action).every((a) => a.startsWith("xray:"));
      for (const resource of asArray(statement.Resource)) {
        if (xray) expect(render(template, resource), policy).toBe("*");
        else expect(render(template, resource), policy).not.toContain("*");
      }
    }
  });

  it("attaches no AWS managed policy to any role", () => {
    template.allResourcesProperties("AWS::IAM::Role", { ManagedPolicyArns: Match.absent() });
  });

  it("lets the function use the Data API on exactly the three clusters and read exactly their secrets", () => {
    const roleId = fn.Properties.Role["Fn::GetAtt"][0] as string;
    const own = statements.filter(({ roles }) => JSON.stringify(roles).includes(`"${roleId}"`));
    const resourcesOf = (service: string) =>
      new Set(
        own
          .filter(({ statement }) => asArray(statement.Action).every((a) => a.startsWith(`${service}:`)))
          .flatMap(({ statement }) => asArray(statement.Resource))
          // A secret grant may end in Secrets Manager's six-character suffix wildcard, which is not `*`.
          .map((resource) => render(template, resource).replace(/-\?{6}$/, "")),
      );
    expect(resourcesOf("rds-data")).toEqual(new Set(clusterArns));
    expect(resourcesOf("secretsmanager")).toEqual(new Set(functionSecretArns));
    // Exactly ExecuteStatement and GetSecretValue: no Batch/Begin/Commit/Rollback, no DescribeSecret.
    const actions = new Set(
      own.flatMap(({ statement }) => asArray(statement.Action)).filter((a) => !a.startsWith("logs:")),
    );
    expect(actions).toEqual(
      new Set([
        "rds-data:ExecuteStatement",
        "secretsmanager:GetSecretValue",
        // Active tracing (Lambda adds these; X-Ray has no resource-level permissions).
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
      ]),
    );
    const resources = JSON.stringify(own.map(({ statement }) => render(template, statement.Resource)));
    for (const master of secretArns) expect(resources).not.toContain(master);
    expect(resourcesOf("logs")).toEqual(new Set([`${fn.Properties.LoggingConfig.LogGroup.Ref}.Arn`]));
    const services = new Set(
      own.flatMap(({ statement }) => asArray(statement.Action).map((a) => a.split(":")[0])),
    );
    expect(services).toEqual(new Set(["rds-data", "secretsmanager", "logs", "xray"]));
  });

  it("lets each schema statement run ExecuteStatement on its own cluster and read its own secret, nothing else", () => {
    const table = Object.values(template.findResources(TABLE_RESOURCE_TYPE))[0];
    const handler = resourceOf("AWS::Lambda::Function", table?.Properties.ServiceToken["Fn::GetAtt"][0]);
    const handlerRoleId = handler.Properties.Role["Fn::GetAtt"][0] as string;
    const schema = statements.filter(
      ({ roles, statement }) =>
        JSON.stringify(roles).includes(`"${handlerRoleId}"`) &&
        !asArray(statement.Action)[0]?.startsWith("logs:"),
    );
    // One pair per action and resource: the pinned @aws-cdk/aws-iam:minimizePolicies merges statements.
    const granted = schema.flatMap(({ statement }) =>
      asArray(statement.Action).flatMap((action) =>
        asArray(statement.Resource).map((r) => [action, render(template, r)]),
      ),
    );
    expect(granted.sort()).toEqual(
      [
        ...clusterArns.map((arn) => ["rds-data:ExecuteStatement", arn]),
        ...secretArns.map((arn) => ["secretsmanager:GetSecretValue", arn]),
      ].sort(),
    );
  });
});

describe("the alarms", () => {
  it("watch partial answers and each shard's timeouts and errors on the metrics the function writes", () => {
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"))
      .map((a) => a.Properties)
      .filter((a) => a.Namespace === env.POWERTOOLS_METRICS_NAMESPACE);
    expect(alarms).toHaveLength(1 + 2 * stack.shards.length);
    const dims = (a: { Dimensions: { Name: string; Value: string }[] }) =>
      Object.fromEntries(a.Dimensions.map((d) => [d.Name, d.Value]));
    const partial = alarms.find((a) => a.MetricName === "PartialResponses");
    expect(partial).toMatchObject({
      Namespace: env.POWERTOOLS_METRICS_NAMESPACE,
      Statistic: "Sum",
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
    });
    expect(dims(partial)).toEqual({ service: env.POWERTOOLS_SERVICE_NAME });
    const perShard = stack.shards.map((s) => ({
      service: env.POWERTOOLS_SERVICE_NAME,
      shard: String(s.shardId),
    }));
    // The metric names are the ones functions/observability/metrics.ts writes, with the same dimensions.
    for (const name of [METRIC.shardTimeouts, METRIC.shardErrors]) {
      const watched = alarms.filter((a) => a.MetricName === name);
      expect(watched.map(dims)).toEqual(perShard);
      for (const a of watched) {
        expect(a).toMatchObject({
          Namespace: env.POWERTOOLS_METRICS_NAMESPACE,
          Statistic: "Sum",
          Threshold: 5,
        });
      }
    }
  });
});
