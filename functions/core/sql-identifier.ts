/**
 * SQL identifiers (table and database names): they cannot be bound as parameters, so they are validated where they
 * enter (the function's config, the local runtime's options) and quoted where they are written into SQL.
 */

/**
 * A plain identifier, at most 63 characters: PostgreSQL's limit (NAMEDATALEN - 1), no quoting tricks needed. `\w` is
 * exactly `[A-Za-z0-9_]` without the `u` and `i` flags.
 */
export const SQL_IDENTIFIER = /^[A-Za-z_]\w{0,62}$/;

/** `name` as a quoted identifier (double quotes inside doubled). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
