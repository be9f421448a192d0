/**
 * What the stack gives online resharding (docs/deploy.md, "Growing a deployed stack"): the shard fence on every
 * cluster, in order; a cluster parameter group with logical replication; the one network path a move's subscription
 * needs; empty shards; and the `ReshardTargets` output the tool's `--shards FILE` is written from.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/core/config.js";
import { createShardMap, DEFAULT_SHARD_RANGES, MAX_ID } from "../../functions/core/shard-map.js";
import { API_FUNCTION_LOGICAL_ID } from "../../infra/constructs/api-function.js";
import { LOGICAL_REPLICATION_PARAMETER } from "../../infra/constructs/cluster-parameters.js";
import { FUNCTION_ROLE_RESOURCE_TYPE } from "../../infra/constructs/function-role.js";
import {
  FENCE_INIT_RESOURCE_TYPE,
  FENCE_SCHEMA_RESOURCE_TYPE,
  SAMPLE_ROWS_RESOURCE_TYPE,
  TABLE_RESOURCE_TYPE,
} from "../../infra/constructs/schema.js";
import { ENGINE_VERSION, SHARD_DB_PORT } from "../../infra/constructs/shard-cluster.js";
import { fenceInitSql, fenceSchemaSql } from "../../infra/fence-sql.js";
import { validateFunctionEnvironment } from "../../infra/function-environment.js";
import {
  RESHARD_TARGETS_BUDGET_BYTES,
  RESHARD_TARGETS_OUTPUT,
  reshardTargetsWorstCaseBytes,
} from "../../infra/reshard-targets.js";
import { asArray, policyStatements, RENDERED_ACCOUNT, RENDERED_REGION, render } from "./intrinsics.js";
import { type Synthesized, synthesize } from "./synth.js";

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };

const resourcesOf = (s: Synthesized, type: string) =>
  s.template.findResources(type) as Record<string, Resource>;

/** The logical id of the one resource of `type` whose `Database` property is `database`. */
function byDatabase(s: Synthesized, type: string, database: string): [string, Resource] {
  const found = Object.entries(resourcesOf(s, type)).filter(([, r]) => r.Properties.Database === database);
  expect(found, `${type} of ${database}`).toHaveLength(1);
  return found[0] as [string, Resource];
}

const defaults = synthesize();

describe("the shard fence at deploy", () => {
  const { stack, template } = defaults;

  it("runs the fence's schema statement on every cluster, after its table", () => {
    template.resourceCountIs(FENCE_SCHEMA_RESOURCE_TYPE, 3);
    for (const shard of stack.shards) {
      const [tableId] = byDatabase(defaults, TABLE_RESOURCE_TYPE, shard.databaseName);
      const [, schema] = byDatabase(defaults, FENCE_SCHEMA_RESOURCE_TYPE, shard.databaseName);
      expect(schema.Properties.Sql).toBe(fenceSchemaSql("data_1"));
      expect(render(template, schema.Properties.ResourceArn)).toBe(
        render(template, stack.resolve(shard.clusterArn)),
      );
      // As the master user, like every schema statement.
      expect(render(template, schema.Properties.SecretArn)).toBe(
        render(template, stack.resolve(shard.secret.secretArn)),
      );
      expect(schema.DependsOn).toContain(tableId);
    }
  });

  it("then inserts each shard's first fence from the context's map (version 1), never resetting one", () => {
    template.resourceCountIs(FENCE_INIT_RESOURCE_TYPE, 3);
    for (const shard of stack.shards) {
      const [schemaId] = byDatabase(defaults, FENCE_SCHEMA_RESOURCE_TYPE, shard.databaseName);
      const [, init] = byDatabase(defaults, FENCE_INIT_RESOURCE_TYPE, shard.databaseName);
      expect(init.Properties.Sql).toBe(fenceInitSql(shard.shardId, stack.settings.shardMap));
      expect(init.Properties.Sql).toMatch(/ON CONFLICT \(singleton\) DO NOTHING$/);
      expect(init.Properties.Sql).toContain(`VALUES (${shard.shardId}, 1, `);
      expect(init.DependsOn).toContain(schemaId);
    }
  });

  it("creates the function's database role only once the fence schema it grants on exists", () => {
    for (const shard of stack.shards) {
      const [schemaId] = byDatabase(defaults, FENCE_SCHEMA_RESOURCE_TYPE, shard.databaseName);
      const [tableId] = byDatabase(defaults, TABLE_RESOURCE_TYPE, shard.databaseName);
      const [, role] = byDatabase(defaults, FUNCTION_ROLE_RESOURCE_TYPE, shard.databaseName);
      expect(role.DependsOn).toContain(schemaId);
      expect(role.DependsOn).toContain(tableId);
    }
  });

  it("gives each fence statement a stable physical id of its own", () => {
    const ids = [FENCE_SCHEMA_RESOURCE_TYPE, FENCE_INIT_RESOURCE_TYPE].flatMap((type) =>
      Object.values(resourcesOf(defaults, type)).map((r) => r.Properties.PhysicalId),
    );
    expect(new Set(ids).size).toBe(6);
    expect(ids).toContain(`shard1/data_1/${FENCE_SCHEMA_RESOURCE_TYPE}`);
  });
});

describe("the clusters' parameter group", () => {
  const { template } = defaults;
  const groups = () => resourcesOf(defaults, "AWS::RDS::DBClusterParameterGroup");

  it("is one custom group of the engine's family with rds.logical_replication = 1", () => {
    const entries = Object.entries(groups());
    expect(entries).toHaveLength(1);
    const [, group] = entries[0] as [string, Resource];
    const major = ENGINE_VERSION.auroraPostgresMajorVersion;
    expect(group.Properties.Family).toBe(`aurora-postgresql${major}`);
    expect(ENGINE_VERSION.auroraPostgresFullVersion.startsWith(`${major}.`)).toBe(true);
    // Only what resharding needs: Aurora's defaults for slots, senders and workers are enough for one move.
    expect(group.Properties.Parameters).toEqual({ [LOGICAL_REPLICATION_PARAMETER]: "1" });
  });

  it("is attached to every cluster from the first deploy", () => {
    const [groupId] = Object.keys(groups());
    template.resourceCountIs("AWS::RDS::DBCluster", 3);
    template.allResourcesProperties("AWS::RDS::DBCluster", { DBClusterParameterGroupName: { Ref: groupId } });
  });

  it("turns logical replication off when the clusters may auto-pause, unless asked for", () => {
    const param = (s: Synthesized) =>
      (Object.values(resourcesOf(s, "AWS::RDS::DBClusterParameterGroup"))[0]?.Properties.Parameters ??
        {}) as Record<string, string>;
    expect(param(synthesize({ demo: "true" }))[LOGICAL_REPLICATION_PARAMETER]).toBe("0");
    expect(param(synthesize({ minCapacity: "0" }))[LOGICAL_REPLICATION_PARAMETER]).toBe("0");
    expect(
      param(synthesize({ demo: "true", logicalReplication: "true" }))[LOGICAL_REPLICATION_PARAMETER],
    ).toBe("1");
    expect(param(synthesize({ logicalReplication: "false" }))[LOGICAL_REPLICATION_PARAMETER]).toBe("0");
    // Attached either way, so switching later is a parameter change and a reboot, never a group swap.
    const demo = synthesize({ demo: "true" });
    const [groupId] = Object.keys(resourcesOf(demo, "AWS::RDS::DBClusterParameterGroup"));
    demo.template.allResourcesProperties("AWS::RDS::DBCluster", {
      DBClusterParameterGroupName: { Ref: groupId },
    });
  });
});

describe("the network path of a move's subscription", () => {
  const { template } = defaults;
  const groups = Object.entries(resourcesOf(defaults, "AWS::EC2::SecurityGroup"));

  it("puts every cluster in one security group", () => {
    expect(groups).toHaveLength(1);
    const [groupId] = groups[0] as [string, Resource];
    template.allResourcesProperties("AWS::RDS::DBCluster", {
      VpcSecurityGroupIds: [{ "Fn::GetAtt": [groupId, "GroupId"] }],
      Port: SHARD_DB_PORT,
    });
  });

  it("admits only that group, on the PostgreSQL port, with a description", () => {
    const [groupId, group] = groups[0] as [string, Resource];
    const self = { "Fn::GetAtt": [groupId, "GroupId"] };
    expect(group.Properties.SecurityGroupIngress).toBeUndefined();
    const ingress = Object.values(resourcesOf(defaults, "AWS::EC2::SecurityGroupIngress"));
    expect(ingress.map((r) => r.Properties)).toEqual([
      {
        GroupId: self,
        SourceSecurityGroupId: self,
        IpProtocol: "tcp",
        FromPort: SHARD_DB_PORT,
        ToPort: SHARD_DB_PORT,
        Description: expect.stringMatching(/subscription connects to another shard's writer/),
      },
    ]);
  });

  it("lets the clusters reach only each other on that port: EC2's allow-all egress rule is removed", () => {
    const [groupId, group] = groups[0] as [string, Resource];
    const self = { "Fn::GetAtt": [groupId, "GroupId"] };
    // An inline egress list replaces EC2's default allow-all rule; CDK's placeholder matches no traffic.
    expect(group.Properties.SecurityGroupEgress).toEqual([
      expect.objectContaining({
        CidrIp: "255.255.255.255/32",
        IpProtocol: "icmp",
        FromPort: 252,
        ToPort: 86,
      }),
    ]);
    const egress = Object.values(resourcesOf(defaults, "AWS::EC2::SecurityGroupEgress"));
    expect(egress.map((r) => r.Properties)).toEqual([
      {
        GroupId: self,
        DestinationSecurityGroupId: self,
        IpProtocol: "tcp",
        FromPort: SHARD_DB_PORT,
        ToPort: SHARD_DB_PORT,
        Description: expect.stringMatching(/subscription connects out to another shard's writer/),
      },
    ]);
  });
});

describe("a shard that owns nothing yet (4 shards, the 4th with no ranges)", () => {
  const shardMap = [...DEFAULT_SHARD_RANGES, { id: 4, ranges: [] }];
  const four = synthesize({ shardMap: JSON.stringify(shardMap), seedSampleRows: "true" });
  const { stack, template } = four;
  const env = Object.fromEntries(
    Object.entries(
      (template.findResources("AWS::Lambda::Function")[API_FUNCTION_LOGICAL_ID]?.Properties.Environment
        .Variables ?? {}) as Record<string, unknown>,
    ).map(([key, value]) => [key, render(template, value)]),
  );
  const cluster4Arn = render(template, stack.resolve(stack.shard(4).clusterArn));

  it("gets its cluster, its table, its fence and the function's database role", () => {
    template.resourceCountIs("AWS::RDS::DBCluster", 4);
    for (const type of [TABLE_RESOURCE_TYPE, FENCE_SCHEMA_RESOURCE_TYPE, FENCE_INIT_RESOURCE_TYPE]) {
      template.resourceCountIs(type, 4);
    }
    template.resourceCountIs(FUNCTION_ROLE_RESOURCE_TYPE, 4);
    byDatabase(four, FUNCTION_ROLE_RESOURCE_TYPE, "shard4");
  });

  it("gets a fence that owns nothing and knows the rest of the id space is unowned", () => {
    const [, init] = byDatabase(four, FENCE_INIT_RESOURCE_TYPE, "shard4");
    const map = createShardMap(shardMap, "shardMap");
    expect(init.Properties.Sql).toBe(fenceInitSql(4, map));
    expect(init.Properties.Sql).toContain("VALUES (4, 1, '{}', ");
    expect(init.Properties.Sql).toContain(`[61,${MAX_ID}]`);
  });

  it("gets no sample rows, while the other shards do", () => {
    const rows = Object.values(resourcesOf(four, SAMPLE_ROWS_RESOURCE_TYPE));
    expect(rows.map((r) => r.Properties.Database).sort()).toEqual(["shard1", "shard2", "shard3"]);
  });

  it("is in the function's SHARDS, with no ranges, and the function may call its cluster", () => {
    const config = loadConfig(env);
    expect(config.shards.map(({ id, ranges }) => ({ id, ranges }))).toEqual(shardMap);
    expect(config.shards.find((s) => s.id === 4)?.resourceArn).toBe(cluster4Arn);
    const fn = template.findResources("AWS::Lambda::Function")[API_FUNCTION_LOGICAL_ID];
    const fnRole = (fn?.Properties.Role as { "Fn::GetAtt": string[] } | undefined)?.["Fn::GetAtt"][0];
    expect(fnRole).toBeDefined();
    const granted = policyStatements(template)
      .filter(({ roles }) => JSON.stringify(roles).includes(`"${fnRole}"`))
      .flatMap(({ statement }) => asArray(statement.Resource).map((r) => render(template, r)));
    expect(granted).toContain(cluster4Arn);
  });

  it("is in ReshardTargets, ready to be a move's target", () => {
    const targets = JSON.parse(render(template, template.toJSON().Outputs[RESHARD_TARGETS_OUTPUT].Value));
    expect(targets.shards.map((s: { id: number }) => s.id)).toEqual([1, 2, 3, 4]);
  });
});

describe("the ReshardTargets output", () => {
  const { stack, template } = defaults;
  const output = template.toJSON().Outputs[RESHARD_TARGETS_OUTPUT] as { Value: unknown; Description: string };

  it("is the reshard tool's --shards file: every shard's Data API and replication coordinates, as master", () => {
    const targets = JSON.parse(render(template, output.Value));
    expect(targets).toEqual({
      shards: stack.shards.map((shard) => {
        const secretArn = render(template, stack.resolve(shard.secret.secretArn));
        return {
          id: shard.shardId,
          resourceArn: render(template, stack.resolve(shard.clusterArn)),
          secretArn,
          database: shard.databaseName,
          replication: {
            host: render(template, stack.resolve(shard.writerEndpoint)),
            port: SHARD_DB_PORT,
            dbname: shard.databaseName,
            secretArn,
          },
        };
      }),
    });
    // The writer (cluster) endpoint, never the reader endpoint; the master secret, never the function's.
    expect(targets.shards[0].replication.host).toMatch(/^Shard1Cluster\w+\.Endpoint\.Address$/);
    expect(targets.shards[0].resourceArn).toMatch(
      new RegExp(`^arn:aws:rds:${RENDERED_REGION}:${RENDERED_ACCOUNT}:cluster:Shard1Cluster`),
    );
    const functionSecrets = stack.shards.map((s) =>
      render(template, stack.resolve(s.functionSecret.secretArn)),
    );
    for (const secret of functionSecrets) expect(JSON.stringify(targets)).not.toContain(secret);
  });

  it("stays within its budget for every map the function's environment accepts", () => {
    const mapOf = (n: number) =>
      createShardMap(
        Array.from({ length: n }, (_, i) => ({ id: i + 1, ranges: [[i * 10 + 1, i * 10 + 10]] })),
        "shardMap",
      );
    const settings = (n: number) => ({ ...stack.settings, shardMap: mapOf(n) });
    let largest = 1;
    while (largest < 100) {
      try {
        validateFunctionEnvironment(settings(largest + 1));
        largest++;
      } catch {
        break;
      }
    }
    expect(largest).toBeGreaterThanOrEqual(4);
    expect(largest).toBeLessThan(100);
    expect(reshardTargetsWorstCaseBytes(mapOf(largest))).toBeLessThanOrEqual(RESHARD_TARGETS_BUDGET_BYTES);
    expect(() => synthesize({ shardMap: JSON.stringify(mapOf(largest).shards) })).not.toThrow();
  });
});
