/**
 * JSON serialization that writes `bigint` as a plain JSON number, so a BIGINT beyond 2^53 leaves the endpoint with
 * every digit (`JSON.stringify` refuses bigints, and `Number` would round them).
 */

/**
 * Like `JSON.stringify(value)` for plain data, plus bigints; `undefined` members are left out. Most results hold no
 * bigint, so `JSON.stringify` (native, several times faster) is tried first; it throws a TypeError only on a bigint.
 */
export function toJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return withBigints(value);
  }
}

function withBigints(value: unknown): string {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(withBigints).join(",")}]`;
      const members: string[] = [];
      for (const [key, member] of Object.entries(value)) {
        if (member !== undefined) members.push(`${JSON.stringify(key)}:${withBigints(member)}`);
      }
      return `{${members.join(",")}}`;
    }
    default:
      return "null";
  }
}
