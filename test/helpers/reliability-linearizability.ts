/**
 * A linearizability check for one key of the table (Wing & Gong's search with memoization): given the writes that
 * clients made to one id, each with the interval in which it was in flight and the answer it got, is there an order
 * of them that respects real time (an operation that ended before another began comes first), in which every answer
 * is what that operation would get at that point, and that ends in the state the table holds now?
 *
 * If yes, no write was lost, duplicated, or reported done without taking effect; if no, the checker says so.
 *
 * A `503` write is optional: it may have taken effect, but only inside its interval (before its answer), or not at
 * all. A write whose 503 said `not_applied` must not take effect: leave it out of `ops`, and it cannot.
 */

export type RowState = { readonly present: false } | { readonly present: true; readonly name: string | null };

export interface WriteOp {
  readonly method: "POST" | "PUT" | "DELETE";
  readonly status: number;
  /** The name a POST or PUT wrote. */
  readonly name?: string;
  /** `performance.now()` before the request was sent and after its answer arrived. */
  readonly start: number;
  readonly end: number;
  readonly label: string;
}

const ABSENT: RowState = { present: false };

/** The state after `op`, or `undefined` when `op`'s answer is impossible in `state`. */
export function apply(state: RowState, op: WriteOp): RowState | undefined {
  switch (`${op.method} ${op.status}`) {
    case "POST 201":
      return state.present ? undefined : { present: true, name: op.name ?? null };
    case "POST 409":
      return state.present ? state : undefined;
    case "PUT 200":
      return state.present ? { present: true, name: op.name ?? null } : undefined;
    case "PUT 404":
      return state.present ? undefined : state;
    case "DELETE 204":
      return state.present ? ABSENT : undefined;
    case "DELETE 404":
      return state.present ? undefined : state;
    // A 503's write, had it taken effect (the search also tries it never did).
    case "POST 503":
      return state.present ? state : { present: true, name: op.name ?? null };
    case "PUT 503":
      return state.present ? { present: true, name: op.name ?? null } : state;
    case "DELETE 503":
      return ABSENT;
    default:
      return undefined;
  }
}

const keyOf = (s: RowState) => (s.present ? `P${JSON.stringify(s.name)}` : "A");

/**
 * Searches for a linearization of `ops` from `initial` that ends in `final`. Returns it (labels in order) or
 * `undefined`. `budget` bounds the search so a pathological history cannot hang the test.
 */
export function linearize(
  ops: readonly WriteOp[],
  initial: RowState,
  final: RowState,
  budget = 2_000_000,
): string[] | undefined {
  const sorted = [...ops].sort((a, b) => a.start - b.start);
  const n = sorted.length;
  const done = new Uint8Array(n);
  const order: string[] = [];
  const seen = new Set<string>();
  let steps = 0;
  const search = (state: RowState, count: number): boolean => {
    if (++steps > budget) throw new Error(`linearizability search over budget (${n} operations)`);
    if (count === n) return keyOf(state) === keyOf(final);
    const memo = `${done.join("")}|${keyOf(state)}`;
    if (seen.has(memo)) return false;
    seen.add(memo);
    // An operation may go next only if it began before every other pending operation ended.
    let minEnd = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) if (!done[i]) minEnd = Math.min(minEnd, (sorted[i] as WriteOp).end);
    for (let i = 0; i < n; i++) {
      const op = sorted[i] as WriteOp;
      if (done[i]) continue;
      if (op.start > minEnd) break;
      // A 503's write either took effect here or never did.
      const choices = op.status === 503 ? [apply(state, op), state] : [apply(state, op)];
      for (const next of choices) {
        if (!next) continue;
        done[i] = 1;
        order.push(next === state && op.status === 503 ? `(${op.label}: no effect)` : op.label);
        if (search(next, count + 1)) return true;
        done[i] = 0;
        order.pop();
      }
    }
    return false;
  };
  return search(initial, 0) ? order : undefined;
}
