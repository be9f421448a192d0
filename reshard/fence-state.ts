/**
 * A shard's fence as the tool reads and writes it (`sharding.fence`, infra/fence-sql.ts): the values `set_fence`
 * takes, each set of ids as inclusive ranges, and the map as its shards and ranges.
 */
import type { SqlParameter } from "@aws-sdk/client-rds-data";
import { FENCE_SCHEMA } from "../functions/core/fence.js";
import { createShardMap } from "../functions/core/shard-map.js";
import { storedMapJson } from "../infra/fence-sql.js";
import type { Fence, FenceValues, FenceWrite } from "./plan-types.js";
import { parseMultirange, toLiteral } from "./ranges.js";
import type { ShardAdmin } from "./shard-admin.js";

export type { Fence, FenceValues } from "./plan-types.js";

export const READ_FENCE_SQL = `SELECT shard, version, owned::text AS owned, frozen::text AS frozen,
  unowned::text AS unowned, map::text AS map FROM ${FENCE_SCHEMA}.fence`;

/** One row of {@link READ_FENCE_SQL}, validated. */
export function parseFence(row: Record<string, unknown>, where: string): Fence {
  const text = (key: string) => {
    const value = row[key];
    if (typeof value !== "string") throw new Error(`${where}: fence column ${key} is not text`);
    return value;
  };
  const shard = Number(row.shard);
  const version = Number(row.version);
  if (!Number.isSafeInteger(shard) || !Number.isSafeInteger(version)) {
    throw new Error(`${where}: fence has no shard or version`);
  }
  const stored = JSON.parse(text("map")) as { shards?: unknown };
  const map = createShardMap(stored.shards, `${where}: fence map`, version);
  return {
    shard,
    version,
    owned: parseMultirange(text("owned")),
    frozen: parseMultirange(text("frozen")),
    unowned: parseMultirange(text("unowned")),
    map: map.shards,
  };
}

/** The one statement that changes a fence; with `marker`, the move's marker row is written in the same transaction. */
export function setFenceStatement(
  fence: FenceValues,
  marker?: string,
): { sql: string; parameters: SqlParameter[] } {
  const str = (name: string, value: string): SqlParameter => ({ name, value: { stringValue: value } });
  const parameters: SqlParameter[] = [
    { name: "version", value: { longValue: fence.version } },
    str("owned", toLiteral(fence.owned)),
    str("frozen", toLiteral(fence.frozen)),
    str("unowned", toLiteral(fence.unowned)),
    str("map", storedMapJson(createShardMap(fence.map, "new map", fence.version))),
  ];
  if (marker !== undefined) parameters.push(str("marker", marker));
  const args = `:version, :owned, :frozen, :unowned, CAST(:map AS jsonb)${marker === undefined ? "" : ", :marker"}`;
  return { sql: `SELECT ${FENCE_SCHEMA}.set_fence(${args}) AS version`, parameters };
}

/** One `set_fence` call on the shard the write is for. */
export async function writeFence(shard: ShardAdmin, write: FenceWrite): Promise<void> {
  if (shard.id !== write.shard) throw new Error(`fence of shard ${write.shard} sent to shard ${shard.id}`);
  const { sql, parameters } = setFenceStatement(write.fence, write.marker);
  await shard.run(sql, parameters);
}
