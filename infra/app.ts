import { ConfigError } from "../functions/core/errors.js";
import { createCdkApp } from "./cdk-app.js";

// The CDK CLI runs this file (cdk.json: "npx tsx infra/app.ts"). A bad context value is reported as one line naming
// the key, not as a stack trace.
try {
  createCdkApp().app.synth();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`Configuration error: ${error.message}`);
  process.exitCode = 1;
}
