import { RemovalPolicy, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpIamAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { ROUTE_TABLE, type RouteSpec } from "../../functions/http/route-table.js";

/** The routes of the HTTP API: the function's own route table (functions/http/route-table.ts). */
export const ROUTES: readonly RouteSpec[] = ROUTE_TABLE;

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

export interface ShardedHttpApiProps {
  /** The function behind every route. */
  readonly handler: IFunction;
  /** Steady-state requests per second on each route: HTTP APIs apply the stage default per route. @default 50 */
  readonly throttleRateLimit?: number;
  /** Burst of requests above the rate, per route. @default 100 */
  readonly throttleBurstLimit?: number;
  /** Require IAM (SigV4) on reads too, not only on writes. @default false */
  readonly requireIamForReads?: boolean;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The public access point: an HTTP API whose `$default` stage throttles each route on its own and writes an access log line
 * per request. Reads are public unless `requireIamForReads`; writes always require IAM authorization.
 */
export class ShardedHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  /** The public catch-all route to the function. */
  readonly defaultRoute: HttpRoute;

  constructor(scope: Construct, id: string, props: ShardedHttpApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, "Api", {
      description: "Sharded data API: one table read across the shards in parallel",
      // The stage below replaces the default one, which could have neither throttling nor access logs.
      createDefaultStage: false,
      // No CORS configuration, on purpose: with one, API Gateway answers preflights itself and drops the CORS
      // headers of the function's responses. Without it, the function's headers (functions/http/response.ts) reach
      // every client as they do locally; see functions/http/route-table.ts for the whole choice.
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
      const requireIam = route.auth === "iam" || props.requireIamForReads === true;
      const authorizer: IHttpRouteAuthorizer = requireIam ? signed : open;
      const created = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
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
    // Everything no table route matches (unknown paths, other methods, OPTIONS preflights) goes to the function,
    // which answers 404 route_not_found, 405 with allow, or the preflight, as the local server does. API Gateway
    // selects the most specific route first, so a request to an IAM route never falls through to this one.
    this.defaultRoute = new HttpRoute(this, "DefaultRoute", {
      httpApi: this.api,
      routeKey: HttpRouteKey.DEFAULT,
      integration,
      authorizer: open,
    });
    Validations.of(this.defaultRoute).acknowledge({
      id: "AwsSolutions-APIG4",
      reason:
        "$default reaches only what no table route matches: the function answers it with 404, 405 or a CORS preflight and never runs a table route for it (routeKeyAgrees), so it reads and writes no data; browsers cannot sign preflights.",
    });
  }

  /** The stage's URL, with a trailing slash. */
  get url(): string {
    return this.stage.url;
  }
}
