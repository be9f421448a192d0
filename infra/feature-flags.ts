import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./constructs/api-function.js";

/**
 * The CDK feature flags this app is pinned to: every `@aws-cdk/…` (and `@aws-cdk-containers/…`) key of `cdk.json`'s
 * `context`, which holds exactly the recommended set of the pinned aws-cdk-lib (`recommended-feature-flags.json`, what
 * `cdk init` writes; test/infra/feature-flags.test.ts keeps the two equal).
 *
 * Why pinned: a flag's default is its old behaviour, and a flag switched on after go-live can change or replace live
 * resources ("Feature flags", AWS CDK v2 Developer Guide, https://docs.aws.amazon.com/cdk/v2/guide/featureflags.html).
 * Pinning them before the first deploy means the behaviour the stack was created with is the behaviour every later
 * synth has, and an aws-cdk-lib upgrade that recommends a new flag fails that test instead of changing resources
 * silently: decide then, with `cdk diff`, whether to take it.
 *
 * `cdk synth` passes `cdk.json`'s context to the app itself; `createCdkApp` also applies these flags, so the tests,
 * which build the app without the CLI, synthesize exactly the template the CLI does.
 */
export const FEATURE_FLAGS: Readonly<Record<string, unknown>> = readFlags();

function readFlags(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, "cdk.json"), "utf8")) as {
    context?: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(cdkJson.context ?? {}).filter(([key]) => key.startsWith("@aws-cdk")),
  );
}
