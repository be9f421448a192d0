import { readFile } from "node:fs/promises";
import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { ConfigError } from "../functions/core/errors.js";
import { LOCAL_CREDENTIALS } from "./data-api/index.js";
import { stopOnSignals } from "./lifecycle.js";
import { startLocalRuntime } from "./runtime.js";
import { readLocalSettings } from "./settings.js";

/** The Lambda timeout the stack gives the function; the fake context counts down from it as Lambda does. */
const LAMBDA_TIMEOUT_MS = 10_000;

function fakeContext(requestId: string): Context {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "local-invoke",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:local-invoke",
    memoryLimitInMB: "512",
    awsRequestId: requestId,
    logGroupName: "/aws/lambda/local-invoke",
    logStreamName: "local",
    getRemainingTimeInMillis: () => LAMBDA_TIMEOUT_MS - (Date.now() - started),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * `npm run invoke -- events/get-data.json`: the offline twin of `sam local invoke`. It starts the local shards, points
 * the environment at them exactly as `events/env.json` does for SAM, imports the real Lambda entry
 * (`functions/handler.ts`) and invokes it once with the event file, printing the result as Lambda would return it.
 * Every setting of `npm start` (SHARD_MAP, SEED, SHARD_FAULTS, the function's settings) applies and is validated
 * the same way, before anything starts.
 */
async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new ConfigError("usage: npm run invoke -- <event.json>  (see events/)");
  const settings = readLocalSettings(process.env);
  const event = JSON.parse(await readFile(file, "utf8")) as APIGatewayProxyEventV2;
  // A signal stops the shards and exits non-zero: the invocation did not complete.
  const lifecycle = stopOnSignals({ log: (m) => console.error(m), exitCode: 1 });
  const runtime = await startLocalRuntime({
    faults: settings.faults,
    map: settings.map,
    seed: settings.seed,
    env: settings.functionEnv,
    logger: new Logger({ serviceName: "sharded-data-api", logLevel: "ERROR" }),
  });
  lifecycle.onStop(() => runtime.stop());
  try {
    // The handler reads its configuration from process.env at import, as it does in Lambda.
    Object.assign(process.env, runtime.env);
    // In Lambda the role's credentials arrive in these variables; here the local endpoints' own stand in for them,
    // replacing (never adding to) whatever credentials the user's shell holds.
    process.env.AWS_ACCESS_KEY_ID = LOCAL_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = LOCAL_CREDENTIALS.secretAccessKey;
    delete process.env.AWS_SESSION_TOKEN;
    const { handler } = await import("../functions/handler.js");
    const result = await handler(event, fakeContext(event.requestContext?.requestId ?? "local"));
    console.log(JSON.stringify(result, null, 2));
  } finally {
    lifecycle.dispose();
    await runtime.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
