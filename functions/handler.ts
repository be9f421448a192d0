import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { composeApp } from "./app.js";
import type { ApiResponse } from "./http/response.js";
import { createBreakerMetrics, createMetricsObserver } from "./observability/metrics.js";
import { createTracingObserver } from "./observability/tracing.js";

// Built once per execution environment, at init: a bad configuration fails the cold start with a ConfigError that
// names the field, and warm invocations reuse the clients and their open connections.
const metrics = createMetricsObserver();
// With active tracing, one X-Ray subsegment per shard call (functions/observability/tracing.ts); without, nothing.
const trace = createTracingObserver();
const { app, logger } = composeApp(process.env, {
  observe: trace
    ? (summary) => {
        metrics(summary);
        trace(summary);
      }
    : metrics,
  onBreakerChange: createBreakerMetrics(),
});

/** Lambda entry for API Gateway HTTP API (payload format 2.0). */
export async function handler(event: APIGatewayProxyEventV2, context: Context): Promise<ApiResponse> {
  logger.addContext(context);
  try {
    return await app(event, context);
  } finally {
    logger.resetKeys();
  }
}
