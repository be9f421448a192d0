/**
 * ARNs of clusters and secrets that exist nowhere in AWS: the local runtime's (account `000000000000`) and the tests'
 * (the documentation account `123456789012`). Syntactically valid, so the function's config accepts them as it
 * accepts real ones; the local Data API endpoints and the SDK mocks key their clusters by them.
 */

/** The region and account an ARN names. */
export interface ArnScope {
  readonly region: string;
  readonly account: string;
}

export const LOCAL_ARN_SCOPE: ArnScope = { region: "us-east-1", account: "000000000000" };

/** The account of AWS's documentation examples: the tests' and the benchmarks' clusters and secrets. */
export const EXAMPLE_ARN_SCOPE: ArnScope = { region: "us-east-1", account: "123456789012" };

export const clusterArn = (name: string, scope: ArnScope = LOCAL_ARN_SCOPE): string =>
  `arn:aws:rds:${scope.region}:${scope.account}:cluster:${name}`;

export const secretArn = (name: string, scope: ArnScope = LOCAL_ARN_SCOPE): string =>
  `arn:aws:secretsmanager:${scope.region}:${scope.account}:secret:${name}`;

/**
 * A local shard's ARNs: its cluster, its master secret (the owner role: administration and the Data API
 * compatibility tests) and the function's own secret (the least-privilege role the app runs as, as in AWS).
 */
export const localArns = (shard: number) => ({
  resourceArn: clusterArn(`local-shard-${shard}`),
  secretArn: secretArn(`local-shard-${shard}`),
  functionSecretArn: secretArn(`local-shard-${shard}-api`),
});
