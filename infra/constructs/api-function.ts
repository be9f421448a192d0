import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, type CfnFunction, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";

/** The repository root, from this file's location, so synth works from any working directory. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The newest Node.js runtime Lambda offers: the code needs Node.js 22 or later, AwsSolutions-L1 the newest. */
export const NODE_RUNTIME = Runtime.NODEJS_24_X;

/** A fixed logical ID: `sam local invoke ApiFunction` and `events/env.json` name the function by it. */
export const API_FUNCTION_LOGICAL_ID = "ApiFunction";

/**
 * The start of the ESM bundle: some bundled CommonJS dependencies call `require` for Node built-ins, which an ES
 * module does not define.
 */
export const REQUIRE_SHIM =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

export interface ApiFunctionProps {
  /** The function's configuration (`functionEnvironment`). */
  readonly environment: Record<string, string>;
  /** Must exceed the shard timeout plus the deadline margin (checked by `readSettings`). @default 10 seconds */
  readonly timeout?: Duration;
  /** @default 512 MB */
  readonly memorySize?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Reserved concurrency (`infra/capacity.ts`); 0 or undefined reserves none. */
  readonly reservedConcurrency?: number;
  /** X-Ray active tracing. @default true */
  readonly tracing?: boolean;
}

/**
 * The API's one Lambda function (`functions/handler.ts`): Node.js 24 on arm64, bundled by the locally installed
 * esbuild (never Docker) into a minified ES module with a source map. The AWS SDK is bundled from the lockfile, so
 * the function runs the pinned `@aws-sdk/client-rds-data` rather than whatever version the runtime ships.
 *
 * Its role has no managed policy: it may write to its own log group and send trace segments to X-Ray, and the stack
 * grants it the Data API on each cluster and read access to each cluster's function secret, nothing more. It is not in the VPC: the Data API needs none.
 */
export class ApiFunction extends Construct {
  readonly handler: NodejsFunction;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ApiFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, "Logs", {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    const role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: "Sharded data API function: its log group, and the Data API on the shard clusters",
    });
    this.logGroup.grantWrite(role);

    this.handler = new NodejsFunction(this, "Handler", {
      entry: join(REPO_ROOT, "functions", "handler.ts"),
      handler: "handler",
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, "package-lock.json"),
      runtime: NODE_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      role,
      logGroup: this.logGroup,
      environment: props.environment,
      description: "Sharded data API: reads every shard in parallel through the RDS Data API",
      // Lambda samples requests and records the invocation's segment (init, invocation, overhead) itself; the
      // function adds one subsegment per shard call (functions/observability/tracing.ts).
      tracing: props.tracing === false ? Tracing.DISABLED : Tracing.ACTIVE,
      ...(props.reservedConcurrency ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
      bundling: {
        format: OutputFormat.ESM,
        banner: REQUIRE_SHIM,
        // Prefer the ES module builds of the SDK and Powertools: they tree-shake.
        mainFields: ["module", "main"],
        // Nothing external: the SDK comes from package-lock.json, not from the runtime.
        externalModules: [],
        minify: true,
        sourceMap: true,
        // The map points at the sources by path; embedding their text would double the asset for nothing.
        sourcesContent: false,
        forceDockerBundling: false,
      },
    });
    (this.handler.node.defaultChild as CfnFunction).overrideLogicalId(API_FUNCTION_LOGICAL_ID);
    if (props.tracing !== false) {
      Validations.of(role).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "Active tracing's xray:PutTraceSegments and xray:PutTelemetryRecords, which Lambda adds: X-Ray defines no resource types for them, so IAM accepts only * (Service Authorization Reference, Actions defined by AWS X-Ray). Every other statement of the role names its resources.",
      });
    }
  }
}
