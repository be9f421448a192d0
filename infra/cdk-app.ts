import { App, type AppProps, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { readSettings } from "./context.js";
import { FEATURE_FLAGS } from "./feature-flags.js";
import { ShardedApiStack } from "./sharded-api-stack.js";

export interface ShardedApiApp {
  readonly app: App;
  readonly stack: ShardedApiStack;
}

/**
 * The app `cdk synth` runs (infra/app.ts) and the tests assert on: the settings read from context, the stack, and
 * cdk-nag's AwsSolutions checks, which make synthesis fail on any finding that is not acknowledged with a reason.
 *
 * The stack is environment-agnostic: `cdk deploy` takes the account and region from the AWS profile, and synth
 * needs no AWS access at all.
 */
export function createCdkApp(props: AppProps = {}): ShardedApiApp {
  // The pinned feature flags first: context given by the caller (or the CLI) still wins, as in cdk.json.
  const app = new App({ ...props, context: { ...FEATURE_FLAGS, ...props.context } });
  const settings = readSettings(app.node);
  const stack = new ShardedApiStack(app, settings.stackName, {
    settings,
    description:
      "Sharded data API: HTTP API, Lambda, and one Aurora PostgreSQL Serverless v2 cluster per shard",
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}
