import { Template } from "aws-cdk-lib/assertions";
import { createCdkApp, type ShardedApiApp } from "../../infra/cdk-app.js";

export interface Synthesized extends ShardedApiApp {
  readonly template: Template;
}

/**
 * Synthesizes the app with extra context, as `cdk synth -c key=value` would (the CLI passes strings). Bundling the
 * function with esbuild is the slow part, so variants that only check configuration skip it through the CDK's own
 * `aws:cdk:bundling-stacks` context; `bundle: true` also records asset metadata, as the CLI does for SAM.
 */
export function synthesize(
  context: Record<string, unknown> = {},
  options: { bundle?: boolean } = {},
): Synthesized {
  const bundling = options.bundle
    ? { "aws:cdk:enable-asset-metadata": true }
    : { "aws:cdk:bundling-stacks": [] as string[] };
  const built = createCdkApp({ context: { ...bundling, ...context } });
  return { ...built, template: Template.fromStack(built.stack) };
}
