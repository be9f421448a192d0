/**
 * An endpoint's counters (requests, pending, open transactions) in an `Int32Array`. When the endpoint runs in a
 * worker thread the array sits on a `SharedArrayBuffer`, so the main thread reads the worker's counts synchronously
 * and exactly, as tests polling `endpoint.pending` need, without a message round trip.
 */
const REQUESTS = 0;
const PENDING = 1;
const OPEN_TRANSACTIONS = 2;
const SLOTS = 3;

export class EndpointStats {
  readonly #slots: Int32Array;

  /** `buffer`: a shared buffer from {@link EndpointStats.sharedBuffer}; unset, counters private to this thread. */
  constructor(buffer?: SharedArrayBuffer) {
    this.#slots = new Int32Array(buffer ?? new ArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
  }

  static sharedBuffer(): SharedArrayBuffer {
    return new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT);
  }

  get requests(): number {
    return Atomics.load(this.#slots, REQUESTS);
  }

  get pending(): number {
    return Atomics.load(this.#slots, PENDING);
  }

  get openTransactions(): number {
    return Atomics.load(this.#slots, OPEN_TRANSACTIONS);
  }

  /** A request arrived; it counts as pending until `answered()`. */
  received(): void {
    Atomics.add(this.#slots, REQUESTS, 1);
    Atomics.add(this.#slots, PENDING, 1);
  }

  answered(): void {
    Atomics.sub(this.#slots, PENDING, 1);
  }

  setOpenTransactions(count: number): void {
    Atomics.store(this.#slots, OPEN_TRANSACTIONS, count);
  }
}
