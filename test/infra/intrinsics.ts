import type { Template } from "aws-cdk-lib/assertions";

/** What the pseudo parameters become in a rendered value. */
export const RENDERED_ACCOUNT = "123456789012";
export const RENDERED_REGION = "us-east-1";

const PSEUDO_PARAMETERS: Readonly<Record<string, string>> = {
  "AWS::Partition": "aws",
  "AWS::Region": RENDERED_REGION,
  "AWS::AccountId": RENDERED_ACCOUNT,
  "AWS::URLSuffix": "amazonaws.com",
};

const SECRET_TYPES = new Set(["AWS::SecretsManager::Secret", "AWS::SecretsManager::SecretTargetAttachment"]);

/**
 * Renders a template value to the string it would become in a deployment, with stand-ins for what only a deployment
 * knows: pseudo parameters get fixed values, a `Ref` to a secret becomes a secret ARN that names the logical ID,
 * any other `Ref` becomes the logical ID and `Fn::GetAtt` becomes `LogicalId.Attribute`. Other intrinsics are kept
 * as their JSON, which is enough to look for wildcards in them.
 */
export function render(template: Template, value: unknown): string {
  const resources = (template.toJSON().Resources ?? {}) as Record<string, { Type?: string }>;
  const go = (v: unknown): string => {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    if (typeof v !== "object" || v === null) return JSON.stringify(v);
    const node = v as Record<string, unknown>;
    if (typeof node.Ref === "string") {
      const pseudo = PSEUDO_PARAMETERS[node.Ref];
      if (pseudo !== undefined) return pseudo;
      if (SECRET_TYPES.has(resources[node.Ref]?.Type ?? "")) {
        return `arn:aws:secretsmanager:${RENDERED_REGION}:${RENDERED_ACCOUNT}:secret:${node.Ref}`;
      }
      return node.Ref;
    }
    const getAtt = node["Fn::GetAtt"];
    if (Array.isArray(getAtt)) return getAtt.join(".");
    const join = node["Fn::Join"];
    if (Array.isArray(join) && typeof join[0] === "string" && Array.isArray(join[1])) {
      return join[1].map(go).join(join[0]);
    }
    return JSON.stringify(v);
  };
  return go(value);
}

/** Every statement of every IAM policy in the template, with its policy's logical ID. */
export function policyStatements(
  template: Template,
): { policy: string; roles: unknown; statement: Statement }[] {
  const policies = template.findResources("AWS::IAM::Policy");
  return Object.entries(policies).flatMap(([policy, resource]) => {
    const statements = (resource.Properties?.PolicyDocument?.Statement ?? []) as Statement[];
    return statements.map((statement) => ({ policy, roles: resource.Properties?.Roles, statement }));
  });
}

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
