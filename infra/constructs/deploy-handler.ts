import { join } from "node:path";
import { type Duration, RemovalPolicy } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, type Runtime } from "aws-cdk-lib/aws-lambda";
import { type BundlingOptions, NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { REPO_ROOT } from "./api-function.js";

export interface DeployHandlerProps {
  /** The handler's file under `infra/handlers/`. */
  readonly file: string;
  readonly description: string;
  /** What the handler's own role is for. */
  readonly roleDescription: string;
  readonly runtime: Runtime;
  readonly timeout: Duration;
  /** Construct ids of the log group and the role inside `scope` (kept as they were: they name the template's resources). */
  readonly logsId: string;
  readonly roleId: string;
  readonly bundling?: BundlingOptions;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A small Lambda function that a custom resource calls at deploy time (the schema statements, the function's database
 * role): its own log group, its own role with no managed policy (the caller grants it exactly the clusters and
 * secrets it needs) and a bundle built locally with esbuild, arm64 like the API function.
 */
export function deployHandler(
  scope: Construct,
  props: DeployHandlerProps,
): { handler: NodejsFunction; role: Role } {
  const logs = new LogGroup(scope, props.logsId, {
    retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
  });
  const role = new Role(scope, props.roleId, {
    assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
    description: props.roleDescription,
  });
  logs.grantWrite(role);
  const handler = new NodejsFunction(scope, "Handler", {
    entry: join(REPO_ROOT, "infra", "handlers", props.file),
    handler: "handler",
    projectRoot: REPO_ROOT,
    depsLockFilePath: join(REPO_ROOT, "package-lock.json"),
    runtime: props.runtime,
    architecture: Architecture.ARM_64,
    memorySize: 256,
    timeout: props.timeout,
    role,
    logGroup: logs,
    description: props.description,
    bundling: { minify: true, externalModules: [], forceDockerBundling: false, ...props.bundling },
  });
  return { handler, role };
}
