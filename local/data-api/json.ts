import { randomUUID } from "node:crypto";
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

/**
 * `JSON.parse`, except that an integer literal beyond Number's exact range (2^53) comes back as a `bigint` with
 * every digit: a `longValue` of 9007199254740993 must reach PostgreSQL as that, as it does on AWS (a Java `long`).
 * Such literals are rewritten as strings carrying a per-call random marker before parsing, then revived; the marker
 * cannot be forged by the request, which does not know it.
 */
export function parseJson(text: string): unknown {
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  const nonce = `${randomUUID()}:`;
  // In the JSON text the marker's NUL is escaped (a raw control character is not valid JSON); parsed, it is real.
  const marker = `\u0000${nonce}`;
  let out = "";
  let last = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      i++;
      continue;
    }
    if (c === "-" || (c >= "0" && c <= "9")) {
      NUMBER.lastIndex = i;
      const literal = NUMBER.exec(text)?.[0] ?? c;
      if (/^-?\d+$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
        out += `${text.slice(last, i)}"\\u0000${nonce}${literal}"`;
        last = i + literal.length;
      }
      i += literal.length;
      continue;
    }
    i++;
  }
  out += text.slice(last);
  return JSON.parse(out, (_key, value: unknown) =>
    typeof value === "string" && value.startsWith(marker) ? BigInt(value.slice(marker.length)) : value,
  );
}

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
