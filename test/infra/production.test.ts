/**
 * Issue 20, "Run it in production", proven on the synthesized template: failover readers, alarms that reach someone,
 * the dashboard, tracing, reserved concurrency, pinned feature flags, the parameter group, PostgreSQL's log, Database
 * Insights and the rotation of both kinds of secret.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { concurrencyBounds, derivedReservedConcurrency, THROTTLED_ROUTES } from "../../infra/capacity.js";
import { API_FUNCTION_LOGICAL_ID, REPO_ROOT } from "../../infra/constructs/api-function.js";
import { DURATION_ALARM_FRACTION } from "../../infra/constructs/monitoring.js";
import { HTTP_API_INTEGRATION_TIMEOUT_SECONDS, MAX_FUNCTION_TIMEOUT_SECONDS } from "../../infra/context.js";
import { FEATURE_FLAGS } from "../../infra/feature-flags.js";
import { asArray, policyStatements, render } from "./intrinsics.js";
import { synthesize } from "./synth.js";

const { app, stack, template } = synthesize();
const resources = (type: string) => template.findResources(type);
const ids = (type: string) => Object.keys(resources(type));

describe("failover: one Serverless v2 reader per cluster", () => {
  it("is on by default and off in a demo or with failoverReader=false", () => {
    expect(
      Object.values(resources("AWS::RDS::DBInstance"))
        .map((i) => i.Properties.PromotionTier)
        .sort(),
    ).toEqual([0, 0, 0, 1, 1, 1]);
    for (const context of [{ demo: "true" }, { failoverReader: "false" }]) {
      const other = synthesize(context).template;
      other.resourceCountIs("AWS::RDS::DBInstance", 3);
      other.allResourcesProperties("AWS::RDS::DBInstance", { PromotionTier: 0 });
    }
    // The demo can still ask for it.
    synthesize({ demo: "true", failoverReader: "true" }).template.resourceCountIs("AWS::RDS::DBInstance", 6);
  });
});

describe("alarms reach someone", () => {
  const topics = ids("AWS::SNS::Topic");

  it("every alarm of the stack notifies the one topic on ALARM and on OK", () => {
    expect(topics).toHaveLength(1);
    const alarms = Object.values(resources("AWS::CloudWatch::Alarm"));
    expect(alarms.length).toBeGreaterThan(7);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topics[0] }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: topics[0] }]);
    }
  });

  it("watch the function's errors, throttles and duration near its timeout, the API's 5xx and latency, each cluster at its maximum", () => {
    const alarms = Object.values(resources("AWS::CloudWatch::Alarm")).map((a) => a.Properties);
    const on = (namespace: string, metric: string) =>
      alarms.filter((a) => a.Namespace === namespace && a.MetricName === metric);
    const fn = { Name: "FunctionName", Value: { Ref: API_FUNCTION_LOGICAL_ID } };
    expect(on("AWS/Lambda", "Errors")).toEqual([expect.objectContaining({ Threshold: 1, Dimensions: [fn] })]);
    expect(on("AWS/Lambda", "Throttles")).toEqual([expect.objectContaining({ Threshold: 1 })]);
    const timeout = resources("AWS::Lambda::Function")[API_FUNCTION_LOGICAL_ID]?.Properties.Timeout as number;
    expect(on("AWS/Lambda", "Duration")).toEqual([
      expect.objectContaining({ Statistic: "Maximum", Threshold: timeout * 1000 * DURATION_ALARM_FRACTION }),
    ]);
    expect(on("AWS/ApiGateway", "5xx")).toHaveLength(1);
    expect(on("AWS/ApiGateway", "Latency")).toEqual([
      expect.objectContaining({ ExtendedStatistic: "p99", Threshold: stack.settings.shardTimeoutMs }),
    ]);
    const capacity = on("AWS/RDS", "ACUUtilization");
    expect(capacity.map((a) => a.Dimensions[0].Value.Ref).sort()).toEqual(ids("AWS::RDS::DBCluster").sort());
    // Every alarm treats no data as fine: no traffic is not a failure.
    for (const a of alarms) expect(a.TreatMissingData).toBe("notBreaching");
  });

  it("subscribe an e-mail address only when alarmEmail is set, and refuse one that is not an address", () => {
    template.resourceCountIs("AWS::SNS::Subscription", 0);
    synthesize({ alarmEmail: "ops@example.com" }).template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
      TopicArn: { Ref: Match.anyValue() },
    });
    expect(() => synthesize({ alarmEmail: "not an address" })).toThrow(/context alarmEmail/);
  });

  it("has a topic that refuses publishing without TLS", () => {
    const policy = Object.values(resources("AWS::SNS::TopicPolicy"))[0];
    expect(JSON.stringify(policy?.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
  });
});

describe("the dashboard", () => {
  it("shows per-shard latency, status counts and breakers, the API, the function and the clusters", () => {
    const dashboards = Object.values(resources("AWS::CloudWatch::Dashboard"));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]?.Properties.DashboardBody);
    for (const metric of [
      "ShardLatency",
      "ShardTimeouts",
      "ShardErrors",
      "ShardUnavailable",
      "BreakerOpened",
      "BreakerClosed",
      "PartialResponses",
      "ServerlessDatabaseCapacity",
      "ACUUtilization",
      "ConcurrentExecutions",
      "IntegrationLatency",
      "5xx",
    ]) {
      expect(body, metric).toContain(metric);
    }
    for (const shard of stack.shards) expect(body).toContain(`shard ${shard.shardId} p99`);
    expect(body).toContain("alarm"); // the alarm status widget lists every alarm
  });
});

describe("tracing", () => {
  it("is active on the function by default, and can be switched off", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Handler: "index.handler",
      TracingConfig: { Mode: "Active" },
    });
    const fn = synthesize({ tracing: "false" }).template.findResources("AWS::Lambda::Function")[
      API_FUNCTION_LOGICAL_ID
    ];
    expect(fn?.Properties.TracingConfig).toBeUndefined();
  });
});

describe("reserved concurrency", () => {
  it("is the smaller of what the per-route throttle and the clusters' capacity can use", () => {
    const s = stack.settings;
    const bounds = concurrencyBounds(s);
    // Every route of the table and $default is throttled on its own.
    expect(THROTTLED_ROUTES).toBe(7);
    expect(bounds.throttle).toBe(Math.ceil(50 * 7 * ((2000 + 250) / 1000)));
    expect(bounds.clusters).toBe(50);
    expect(s.reservedConcurrency).toBe(50);
    expect(
      resources("AWS::Lambda::Function")[API_FUNCTION_LOGICAL_ID]?.Properties.ReservedConcurrentExecutions,
    ).toBe(derivedReservedConcurrency(s));
  });

  it("follows the throttle when that is the smaller, and can be set or switched off", () => {
    const tight = synthesize({ throttleRateLimit: "2" }).stack.settings;
    expect(tight.reservedConcurrency).toBe(Math.ceil(2 * 7 * 2.25));
    const fnOf = (context: Record<string, string>) =>
      synthesize(context).template.findResources("AWS::Lambda::Function")[API_FUNCTION_LOGICAL_ID]
        ?.Properties;
    expect(fnOf({ reservedConcurrency: "200" })?.ReservedConcurrentExecutions).toBe(200);
    expect(fnOf({ reservedConcurrency: "0" })?.ReservedConcurrentExecutions).toBeUndefined();
  });

  it("sits beside a throttle AWS applies per route, and a timeout below the HTTP API's 30 s", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    expect(HTTP_API_INTEGRATION_TIMEOUT_SECONDS).toBe(30);
    expect(MAX_FUNCTION_TIMEOUT_SECONDS).toBe(29);
    expect(() => synthesize({ functionTimeoutSeconds: "30" })).toThrow(/functionTimeoutSeconds/);
  });
});

describe("pinned CDK feature flags", () => {
  const recommended = JSON.parse(
    readFileSync(join(REPO_ROOT, "node_modules", "aws-cdk-lib", "recommended-feature-flags.json"), "utf8"),
  ) as Record<string, unknown>;

  it("are exactly the pinned aws-cdk-lib's recommended set, in cdk.json", () => {
    // An aws-cdk-lib upgrade that recommends a new flag fails here: decide on it with `cdk diff`, then pin it.
    expect(FEATURE_FLAGS).toEqual(recommended);
  });

  it("are the ones the app synthesizes with, in the tests as under the CLI", () => {
    for (const [flag, value] of Object.entries(recommended)) {
      expect(app.node.tryGetContext(flag), flag).toEqual(value);
    }
  });
});

describe("database operations", () => {
  it("attach one custom cluster parameter group to every cluster from the first deploy", () => {
    const groups = ids("AWS::RDS::DBClusterParameterGroup");
    expect(groups).toHaveLength(1);
    template.allResourcesProperties("AWS::RDS::DBCluster", {
      DBClusterParameterGroupName: { Ref: groups[0] },
    });
    template.hasResourceProperties("AWS::RDS::DBClusterParameterGroup", {
      Family: "aurora-postgresql18",
      Parameters: { "rds.logical_replication": "1" },
    });
  });

  it("export PostgreSQL's log to a log group of ours, with a retention, that exists before any instance", () => {
    template.allResourcesProperties("AWS::RDS::DBCluster", { EnableCloudwatchLogsExports: ["postgresql"] });
    const groups = Object.entries(resources("AWS::Logs::LogGroup")).filter(([, g]) =>
      JSON.stringify(g.Properties.LogGroupName ?? "").includes("/aws/rds/cluster/"),
    );
    expect(groups).toHaveLength(3);
    const instances = Object.values(resources("AWS::RDS::DBInstance"));
    for (const [id, group] of groups) {
      expect(group.Properties.RetentionInDays).toBe(30);
      const clusterId = group.Properties.LogGroupName["Fn::Join"][1][1].Ref as string;
      expect(group.Properties.LogGroupName).toEqual({
        "Fn::Join": ["", ["/aws/rds/cluster/", { Ref: clusterId }, "/postgresql"]],
      });
      const own = instances.filter((i) => i.Properties.DBClusterIdentifier.Ref === clusterId);
      expect(own).toHaveLength(2);
      for (const i of own) expect(i.DependsOn).toContain(id);
    }
  });

  it("turn on Database Insights (Standard) with Performance Insights' free 7 days", () => {
    template.allResourcesProperties("AWS::RDS::DBCluster", {
      DatabaseInsightsMode: "standard",
      PerformanceInsightsEnabled: true,
      PerformanceInsightsRetentionPeriod: 7,
    });
  });
});

describe("secret rotation that keeps the Data API working", () => {
  it("leaves the master secrets to Aurora, which rotates them itself", () => {
    template.allResourcesProperties("AWS::RDS::DBCluster", { ManageMasterUserPassword: true });
    // No master secret, attachment or rotation function of CDK's for them.
    template.resourceCountIs("AWS::SecretsManager::Secret", stack.shards.length);
  });

  it("rotates each function secret on a schedule, with our alternating-users function, after its role exists", () => {
    const schedules = Object.values(resources("AWS::SecretsManager::RotationSchedule"));
    expect(schedules).toHaveLength(stack.shards.length);
    const rotationFn = ids("AWS::Lambda::Function").find((id) => id.startsWith("FunctionSecretRotation"));
    expect(new Set(schedules.map((s) => render(template, s.Properties.SecretId)))).toEqual(
      new Set(stack.shards.map((s) => render(template, stack.resolve(s.functionSecret.secretArn)))),
    );
    const roles = ids("Custom::FunctionDatabaseRole");
    for (const s of schedules) {
      expect(s.Properties).toMatchObject({
        RotationLambdaARN: { "Fn::GetAtt": [rotationFn, "Arn"] },
        RotationRules: { AutomaticallyAfterDays: 30 },
        RotateImmediatelyOnUpdate: false,
      });
      expect(roles.some((r) => (s.DependsOn as string[]).includes(r))).toBe(true);
    }
    expect(
      synthesize({ functionSecretRotationDays: "7" }).template.findResources(
        "AWS::SecretsManager::RotationSchedule",
      ),
    ).toSatisfy((found: Record<string, { Properties: { RotationRules: unknown } }>) =>
      Object.values(found).every(
        (s) => JSON.stringify(s.Properties.RotationRules) === '{"AutomaticallyAfterDays":7}',
      ),
    );
  });

  it("keeps in each function secret what the rotation needs: its master secret, database and cluster", () => {
    for (const secret of Object.values(resources("AWS::SecretsManager::Secret"))) {
      const text = JSON.stringify(secret.Properties.GenerateSecretString.SecretStringTemplate);
      expect(text).toContain('\\"masterarn\\":');
      expect(text).toMatch(/\\"dbname\\":\\"shard\d\\"/);
      expect(text).toContain("MasterUserSecret.SecretArn");
    }
    // Attached: Secrets Manager adds dbClusterIdentifier, host, port and engine.
    template.resourceCountIs("AWS::SecretsManager::SecretTargetAttachment", stack.shards.length);
    template.allResourcesProperties("AWS::SecretsManager::SecretTargetAttachment", {
      TargetType: "AWS::RDS::DBCluster",
    });
  });

  it("lets the rotation function touch each shard's function secret, master secret and cluster, nothing else", () => {
    const granted = policyStatements(template)
      .filter(({ policy }) => policy.startsWith("FunctionSecretRotation"))
      .flatMap(({ statement }) =>
        asArray(statement.Action).flatMap((a) =>
          asArray(statement.Resource).map((r) => `${a} ${render(template, r)}`),
        ),
      )
      .filter((g) => !g.startsWith("logs:"));
    const expected = stack.shards.flatMap((s) => {
      const fnSecret = render(template, stack.resolve(s.functionSecret.secretArn));
      return [
        ...[
          "secretsmanager:DescribeSecret",
          "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue",
          "secretsmanager:UpdateSecretVersionStage",
        ].map((a) => `${a} ${fnSecret}`),
        `secretsmanager:GetSecretValue ${render(template, stack.resolve(s.secret.secretArn))}`,
        `rds-data:ExecuteStatement ${render(template, stack.resolve(s.clusterArn))}`,
      ];
    });
    expect(granted.sort()).toEqual(expected.sort());
    // Only Secrets Manager of this account may invoke it.
    template.hasResourceProperties("AWS::Lambda::Permission", {
      Principal: "secretsmanager.amazonaws.com",
      SourceAccount: { Ref: "AWS::AccountId" },
      FunctionName: { "Fn::GetAtt": [Match.stringLikeRegexp("^FunctionSecretRotation"), "Arn"] },
    });
  });
});
