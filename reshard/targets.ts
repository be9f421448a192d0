/**
 * Where the shards are: every shard's Data API coordinates (for the tool's SQL) and its PostgreSQL coordinates for
 * replication (for a move's subscription, which the target opens to the source). Two sources, one shape:
 * `--local URL` asks the local runtime (`GET URL/_local/shards`); `--shards FILE` reads a file (in AWS written from the
 * stack's `ReshardTargets` output, where the replication login is a Secrets Manager secret, not a password).
 */
import { readFile } from "node:fs/promises";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { TargetError } from "./errors.js";
import { arnRegion, type ShardAddress } from "./shard-admin.js";

/** The source's PostgreSQL as the target's subscription connects to it. */
export interface ReplicationAddress {
  readonly host: string;
  readonly port: number;
  readonly dbname: string;
  /** Locally the login itself; in AWS `secretArn` names a secret with `username` and `password`. */
  readonly user?: string;
  readonly password?: string;
  readonly secretArn?: string;
  /** libpq's `sslmode` for the subscription's connection; unset: `require` with a secret (AWS), libpq's default else. */
  readonly sslmode?: string;
}

export interface ShardTarget extends ShardAddress {
  readonly replication: ReplicationAddress;
}

/** A resolved replication login. */
export interface ReplicationLogin {
  readonly host: string;
  readonly port: number;
  readonly dbname: string;
  readonly user: string;
  readonly password: string;
  readonly sslmode?: string;
}

const SSL_MODES = new Set(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function field(obj: Record<string, unknown>, key: string, at: string, optional: true): string | undefined;
function field(obj: Record<string, unknown>, key: string, at: string, optional?: false): string;
function field(obj: Record<string, unknown>, key: string, at: string, optional = false): string | undefined {
  const value = obj[key];
  if (value === undefined && optional) return undefined;
  if (typeof value !== "string" || value === "")
    throw new TargetError(`${at}.${key}: expected a non-empty string`);
  return value;
}

/** Validates `{"shards": [...]}` (the `/_local/shards` answer or a `--shards` file); `source` names it in messages. */
export function parseTargets(input: unknown, source: string): ShardTarget[] {
  const list = isObject(input) ? input.shards : undefined;
  if (!Array.isArray(list) || list.length === 0)
    throw new TargetError(`${source}: expected {"shards": [...]} with at least one shard`);
  const seen = new Set<number>();
  return list.map((raw: unknown, i): ShardTarget => {
    const at = `${source}: shards[${i}]`;
    if (!isObject(raw)) throw new TargetError(`${at}: expected an object`);
    const id = raw.id;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 1)
      throw new TargetError(`${at}.id: expected a positive integer`);
    if (seen.has(id)) throw new TargetError(`${at}.id: duplicate shard ${id}`);
    seen.add(id);
    const rep = raw.replication;
    if (!isObject(rep)) throw new TargetError(`${at}.replication: expected an object`);
    const port = rep.port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TargetError(`${at}.replication.port: expected a port number`);
    }
    const user = field(rep, "user", `${at}.replication`, true);
    const password = field(rep, "password", `${at}.replication`, true);
    const secretArn = field(rep, "secretArn", `${at}.replication`, true);
    if (secretArn === undefined && (user === undefined || password === undefined)) {
      throw new TargetError(`${at}.replication: expected user and password, or secretArn`);
    }
    const sslmode = field(rep, "sslmode", `${at}.replication`, true);
    if (sslmode !== undefined && !SSL_MODES.has(sslmode)) {
      throw new TargetError(`${at}.replication.sslmode: expected one of ${[...SSL_MODES].join(", ")}`);
    }
    const endpoint = field(raw, "endpoint", at, true);
    return {
      id,
      resourceArn: field(raw, "resourceArn", at),
      secretArn: field(raw, "secretArn", at),
      database: field(raw, "database", at),
      ...(endpoint === undefined ? {} : { endpoint }),
      replication: {
        host: field(rep, "host", `${at}.replication`),
        port,
        dbname: field(rep, "dbname", `${at}.replication`),
        ...(user === undefined ? {} : { user }),
        ...(password === undefined ? {} : { password }),
        ...(secretArn === undefined ? {} : { secretArn }),
        ...(sslmode === undefined ? {} : { sslmode }),
      },
    };
  });
}

/** The local runtime's shards: `GET URL/_local/shards`. */
export async function localTargets(url: string): Promise<ShardTarget[]> {
  const where = `${url.replace(/\/$/, "")}/_local/shards`;
  let answer: Response;
  try {
    answer = await fetch(where, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new TargetError(
      `GET ${where}: ${(err as Error).message} (is the local runtime running? npm start)`,
      { cause: err },
    );
  }
  if (!answer.ok) throw new TargetError(`GET ${where}: HTTP ${answer.status}`);
  return parseTargets(await answer.json().catch(() => undefined), where);
}

export async function fileTargets(path: string): Promise<ShardTarget[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new TargetError(`--shards ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TargetError(`--shards ${path}: not JSON`);
  }
  return parseTargets(json, path);
}

/** The replication login, reading its secret from Secrets Manager where the target names one (AWS). */
export async function replicationLogin(target: ShardTarget): Promise<ReplicationLogin> {
  const { host, port, dbname, user, password, secretArn, sslmode } = target.replication;
  const ssl = sslmode === undefined ? {} : { sslmode };
  if (user !== undefined && password !== undefined) return { host, port, dbname, user, password, ...ssl };
  const client = new SecretsManagerClient({ region: arnRegion(secretArn ?? "") });
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
    const secret = JSON.parse(out.SecretString ?? "{}") as { username?: unknown; password?: unknown };
    if (typeof secret.username !== "string" || typeof secret.password !== "string") {
      throw new TargetError(`secret ${secretArn}: expected JSON with username and password`);
    }
    // Between Aurora clusters the connection is TLS unless the file says otherwise (rds.force_ssl is on by default
    // from Aurora PostgreSQL 15: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.Security.html).
    const tls = { sslmode: sslmode ?? "require" };
    return { host, port, dbname, user: secret.username, password: secret.password, ...tls };
  } catch (err) {
    if (err instanceof TargetError) throw err;
    throw new TargetError(`shard ${target.id}: reading the replication secret: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    client.destroy();
  }
}
