import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  type CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpIamAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { CORS_HEADERS } from "../../functions/http/response.js";

/** Reads answer anyone by default; writes always need a SigV4-signed request from an IAM principal. */
export type RouteAccess = "read" | "write";

export interface RouteSpec {
  readonly method: HttpMethod;
  readonly path: string;
  readonly access: RouteAccess;
}

/** The routes of `functions/http/routes.ts`. */
export const ROUTES: readonly RouteSpec[] = [
  { method: HttpMethod.GET, path: "/health", access: "read" },
  { method: HttpMethod.GET, path: "/data", access: "read" },
  { method: HttpMethod.GET, path: "/data/{id}", access: "read" },
  { method: HttpMethod.POST, path: "/data", access: "write" },
  { method: HttpMethod.PUT, path: "/data/{id}", access: "write" },
  { method: HttpMethod.DELETE, path: "/data/{id}", access: "write" },
];

/** One JSON line per request; `caller` is the IAM principal of a signed request. */
const ACCESS_LOG_FORMAT = {
  requestId: "$context.requestId",
  ip: "$context.identity.sourceIp",
  caller: "$context.identity.userArn",
  requestTime: "$context.requestTime",
  routeKey: "$context.routeKey",
  status: "$context.status",
  protocol: "$context.protocol",
  responseLength: "$context.responseLength",
  responseLatency: "$context.responseLatency",
  integrationLatency: "$context.integrationLatency",
  integrationError: "$context.integrationErrorMessage",
  error: "$context.error.message",
};

/** One comma-separated value of the function's CORS headers, as a list. */
function corsList(header: string): string[] {
  return (CORS_HEADERS[header] ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

export interface ShardedHttpApiProps {
  /** The function behind every route. */
  readonly handler: IFunction;
  /** Steady-state requests per second for the whole stage. @default 50 */
  readonly throttleRateLimit?: number;
  /** Burst of requests above the rate. @default 100 */
  readonly throttleBurstLimit?: number;
  /** Require IAM (SigV4) on reads too, not only on writes. @default false */
  readonly requireIamForReads?: boolean;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The public access point: an HTTP API whose `$default` stage throttles every route and writes an access log line
 * per request. Reads are public unless `requireIamForReads`; writes always require IAM authorization.
 */
export class ShardedHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: ShardedHttpApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, "Api", {
      description: "Sharded data API: one table read across the shards in parallel",
      // The stage below replaces the default one, which could have neither throttling nor access logs.
      createDefaultStage: false,
      // API Gateway answers browsers' preflight requests itself (no route, no authorization) with the same CORS
      // policy the function puts on its responses (functions/http/response.ts).
      corsPreflight: {
        allowOrigins: corsList("access-control-allow-origin"),
        allowMethods: corsList("access-control-allow-methods") as CorsHttpMethod[],
        allowHeaders: corsList("access-control-allow-headers"),
        maxAge: Duration.seconds(Number(CORS_HEADERS["access-control-max-age"] ?? 0)),
      },
    });
    this.accessLogs = new LogGroup(this, "AccessLogs", {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.stage = new HttpStage(this, "DefaultStage", {
      httpApi: this.api,
      stageName: "$default",
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 50, burstLimit: props.throttleBurstLimit ?? 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FORMAT)),
      },
    });

    const integration = new HttpLambdaIntegration("Function", props.handler);
    const signed = new HttpIamAuthorizer();
    const open = new HttpNoneAuthorizer();
    for (const route of ROUTES) {
      const requireIam = route.access === "write" || props.requireIamForReads === true;
      const authorizer: IHttpRouteAuthorizer = requireIam ? signed : open;
      const created = this.api.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        authorizer,
      });
      if (requireIam) continue;
      for (const publicRoute of created) {
        Validations.of(publicRoute).acknowledge({
          id: "AwsSolutions-APIG4",
          reason: `${route.method} ${route.path} is a read of the public access point this API exists to be; the stage throttles it, writes require IAM, and context requireIamForReads=true requires IAM here too.`,
        });
      }
    }
  }

  /** The stage's URL, with a trailing slash. */
  get url(): string {
    return this.stage.url;
  }
}
