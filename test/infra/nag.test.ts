import { Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { createCdkApp } from "../../infra/cdk-app.js";

const build = (context: Record<string, unknown>) =>
  createCdkApp({ context: { "aws:cdk:bundling-stacks": [] as string[], ...context } }).app;

/** Every acknowledgement recorded in the app: rule id (without CDK's namespace) and reason. */
function acknowledgements(context: Record<string, unknown>): { id: string; reason: string; path: string }[] {
  const app = build(context);
  return app.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          id: id.replace(/^annotation::/i, ""),
          reason,
          path: construct.node.path,
        })),
      ),
  );
}

describe("cdk-nag AwsSolutions checks", () => {
  it.each([
    ["the production defaults", {}],
    ["a demo deployment", { demo: "true" }],
    ["IAM-authorized reads", { requireIamForReads: "true" }],
  ])("leave no unacknowledged finding in %s", (_name, context) => {
    const app = build(context);
    // createCdkApp registers the checks as a validation plugin: synthesis throws on any finding left.
    expect(() => app.synth()).not.toThrow();
    const { violations } = new AwsSolutionsChecks().validateScope(app);
    const findings = violations.map(
      (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath)}`,
    );
    expect(findings).toEqual([]);
  });

  it("are acknowledged only for the documented rules, each with a specific reason", () => {
    // aws-cdk-lib acknowledges some CloudFormation-Validate rules of its own; ours are the AwsSolutions ones.
    const acknowledged = acknowledgements({}).filter((a) => a.id.startsWith("AwsSolutions-"));
    expect(new Set(acknowledged.map((a) => a.id))).toEqual(
      new Set(["AwsSolutions-APIG4", "AwsSolutions-SNS2", "AwsSolutions-IAM5[Resource::*]"]),
    );
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(60);
    // One per public route ($default included), not one for the whole stack.
    expect(acknowledged.filter((a) => a.id === "AwsSolutions-APIG4")).toHaveLength(4);
    // No secret is left unrotated: the master secrets are Aurora's (rotated by Aurora), the function's rotate on a
    // schedule (infra/constructs/function-secret-rotation.ts).
    expect(acknowledged.filter((a) => a.id === "AwsSolutions-SMG4")).toEqual([]);
    // The only wildcard is X-Ray's, on the API function's role alone.
    expect(acknowledged.filter((a) => a.id.startsWith("AwsSolutions-IAM5")).map((a) => a.path)).toEqual([
      "ShardedDataApi/Function/Role",
    ]);
    expect(acknowledged.filter((a) => a.id === "AwsSolutions-SNS2").map((a) => a.path)).toEqual([
      "ShardedDataApi/Monitoring/AlarmTopic",
    ]);
  });

  it("acknowledge switched-off deletion protection only when the context switches it off", () => {
    expect(acknowledgements({ demo: "true" }).filter((a) => a.id === "AwsSolutions-RDS10")).toHaveLength(3);
    // With IAM on reads, only the catch-all stays public: it reaches no data (see infra/constructs/api.ts).
    const publicRoutes = acknowledgements({ requireIamForReads: "true" }).filter(
      (a) => a.id === "AwsSolutions-APIG4",
    );
    expect(publicRoutes.map((a) => a.path)).toEqual(["ShardedDataApi/Http/DefaultRoute"]);
  });
});
