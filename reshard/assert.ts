/** For the `default` of a switch over a union that the compiler proves complete. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
