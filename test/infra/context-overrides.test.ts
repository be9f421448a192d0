import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { API_FUNCTION_LOGICAL_ID } from "../../infra/constructs/api-function.js";
import { SAMPLE_ROWS_RESOURCE_TYPE, TABLE_RESOURCE_TYPE } from "../../infra/constructs/schema.js";
import { render } from "./intrinsics.js";
import { synthesize } from "./synth.js";

// Configuration-only variants: synthesized without bundling the function, once each.

describe("a demo deployment (demo=true)", () => {
  const { template } = synthesize({ demo: "true" });

  it("lets the clusters auto-pause after five idle minutes", () => {
    template.allResourcesProperties("AWS::RDS::DBCluster", {
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 2, SecondsUntilAutoPause: 300 },
    });
  });

  it("removes the master secrets with their destroyed clusters", () => {
    template.allResources("AWS::SecretsManager::Secret", { DeletionPolicy: "Delete" });
  });

  it("removes the clusters and the logs with the stack", () => {
    template.allResourcesProperties("AWS::RDS::DBCluster", { DeletionProtection: false });
    template.allResources("AWS::RDS::DBCluster", { DeletionPolicy: "Delete" });
    template.allResources("AWS::Logs::LogGroup", { DeletionPolicy: "Delete" });
  });

  it("loads the sample rows of the shard map on every shard, after its table exists", () => {
    const tables = Object.keys(template.findResources(TABLE_RESOURCE_TYPE));
    const rows = Object.values(template.findResources(SAMPLE_ROWS_RESOURCE_TYPE));
    expect(rows).toHaveLength(3);
    for (const resource of rows) {
      expect(resource.Properties.Sql).toMatch(
        /^INSERT INTO "data_1" \(id, name\) .* ON CONFLICT \(id\) DO NOTHING$/,
      );
      expect(resource.DependsOn.some((id: string) => tables.includes(id))).toBe(true);
    }
    const sqlByDatabase = Object.fromEntries(
      rows.map((resource) => [resource.Properties.Database, resource.Properties.Sql]),
    );
    expect(sqlByDatabase.shard1).toContain("(VALUES (1, 10), (31, 40))");
    expect(sqlByDatabase.shard2).toContain("(VALUES (11, 20), (41, 50))");
    expect(sqlByDatabase.shard3).toContain("(VALUES (21, 30), (51, 60))");
  });

  it("keeps explicit keys over the demo defaults", () => {
    const { template: kept } = synthesize({ demo: "true", deletionProtection: "true", minCapacity: "0.5" });
    kept.allResourcesProperties("AWS::RDS::DBCluster", {
      DeletionProtection: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5 },
    });
  });
});

describe("retained clusters (removalPolicy=retain)", () => {
  const { template } = synthesize({ removalPolicy: "retain" });
  const policies = (type: string) =>
    Object.values(template.findResources(type)).map((r) => [r.DeletionPolicy, r.UpdateReplacePolicy]);

  it("keeps every cluster with its writer and reader, the function's secret, subnet group, and the shared security group (with its rules) and parameter group", () => {
    for (const [type, count] of [
      ["AWS::RDS::DBCluster", 3],
      ["AWS::RDS::DBInstance", 6],
      // Per shard the function role's secret (the master secret is Aurora's, kept with its cluster by Aurora).
      ["AWS::SecretsManager::Secret", 3],
      ["AWS::SecretsManager::SecretTargetAttachment", 3],
      ["AWS::RDS::DBSubnetGroup", 3],
      // One security group and one cluster parameter group for all clusters (infra/constructs/network.ts,
      // infra/constructs/cluster-parameters.ts): deleting either while a kept cluster uses it would fail the destroy.
      ["AWS::EC2::SecurityGroup", 1],
      ["AWS::EC2::SecurityGroupIngress", 1],
      ["AWS::EC2::SecurityGroupEgress", 1],
      ["AWS::RDS::DBClusterParameterGroup", 1],
    ] as const) {
      expect(policies(type), type).toHaveLength(count);
      for (const p of policies(type)) expect(p, type).toEqual(["Retain", "Retain"]);
    }
  });

  it("keeps the VPC, its subnets and their routing, so destroy never meets a DependencyViolation", () => {
    for (const type of [
      "AWS::EC2::VPC",
      "AWS::EC2::Subnet",
      "AWS::EC2::RouteTable",
      "AWS::EC2::SubnetRouteTableAssociation",
    ]) {
      expect(policies(type).length, type).toBeGreaterThan(0);
      for (const p of policies(type)) expect(p, type).toEqual(["Retain", "Retain"]);
    }
  });

  it("deletes what a kept cluster does not need: the function, the API, the alarms", () => {
    for (const type of ["AWS::Lambda::Function", "AWS::ApiGatewayV2::Api", "AWS::CloudWatch::Alarm"]) {
      for (const p of policies(type)) expect(p[0], type).not.toBe("Retain");
    }
  });
});

describe("IAM-authorized reads with a tighter throttle", () => {
  const { template } = synthesize({
    requireIamForReads: "true",
    throttleRateLimit: "5",
    throttleBurstLimit: "10",
  });

  it("requires IAM on every route of the table, reads included; only the data-less $default stays public", () => {
    const routes = Object.values(template.findResources("AWS::ApiGatewayV2::Route")).map((route) => [
      route.Properties.RouteKey,
      route.Properties.AuthorizationType,
    ]);
    expect(routes).toHaveLength(7);
    for (const [key, auth] of routes) expect(auth, key).toBe(key === "$default" ? "NONE" : "AWS_IAM");
  });

  it("throttles the stage at the given rate and burst", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
  });
});

describe("a custom shard map, timeouts and capacity", () => {
  const shardMap = [
    { id: 1, ranges: [[1, 100]] },
    { id: 2, ranges: [[101, 200]] },
  ];
  const { template } = synthesize({
    shardMap: JSON.stringify(shardMap),
    shardTimeoutMs: "3000",
    functionTimeoutSeconds: "5",
    minCapacity: "1",
    maxCapacity: "4",
    logRetentionDays: "7",
  });
  const fn = template.findResources("AWS::Lambda::Function")[API_FUNCTION_LOGICAL_ID];
  const variables = (fn?.Properties.Environment.Variables ?? {}) as Record<string, unknown>;
  const env = Object.fromEntries(
    Object.entries(variables).map(([key, value]) => [key, render(template, value)]),
  );

  it("builds one cluster per shard of the map", () => {
    template.resourceCountIs("AWS::RDS::DBCluster", 2);
    template.resourceCountIs(TABLE_RESOURCE_TYPE, 2);
    template.allResourcesProperties("AWS::RDS::DBCluster", {
      ServerlessV2ScalingConfiguration: { MinCapacity: 1, MaxCapacity: 4 },
    });
  });

  it("gives the function the same map and the new timeouts", () => {
    const config = loadConfig(env);
    expect(config.shards.map(({ id, ranges }) => ({ id, ranges }))).toEqual(shardMap);
    expect(config.shardTimeoutMs).toBe(3000);
    expect(fn?.Properties.Timeout).toBe(5);
  });

  it("keeps logs for the given number of days", () => {
    template.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 7 });
  });
});

describe("invalid context", () => {
  const manyShards = Array.from({ length: 20 }, (_, i) => ({ id: i + 1, ranges: [[i * 10, i * 10 + 9]] }));

  it.each([
    [{ functionTimeoutSeconds: "2" }, /context functionTimeoutSeconds: 2 s must exceed/],
    [{ functionTimeoutSeconds: "30" }, /context functionTimeoutSeconds: expected an integer in 1\.\.29/],
    [
      { shardMap: '[{"id":1,"ranges":[[1,10]]},{"id":2,"ranges":[[5,20]]}]' },
      /context shardMap: ranges overlap/,
    ],
    [{ shardMap: "[1, 2" }, /context shardMap: not valid JSON/],
    [{ shardMap: JSON.stringify(manyShards) }, /context shardMap: the function environment would take/],
    [{ minCapacity: "0.25" }, /context minCapacity: expected a multiple of 0\.5/],
    [{ minCapacity: "4", maxCapacity: "2" }, /context maxCapacity: 2 is below minCapacity 4/],
    [{ removalPolicy: "keep" }, /context removalPolicy: expected one of retain, snapshot, destroy/],
    [{ requireIamForReads: "yes" }, /context requireIamForReads: expected true or false/],
    [{ logRetentionDays: "31" }, /context logRetentionDays: 31 is not a CloudWatch Logs retention/],
    [
      { seedSampleRows: "true", shardMap: JSON.stringify([{ id: 1, ranges: [[1, 200_000]] }]) },
      /context seedSampleRows: a shard would get 200000 sample rows/,
    ],
  ])("fails the synth with a message naming the key for %j", (context, message) => {
    expect(() => synthesize(context)).toThrow(message);
  });
});
