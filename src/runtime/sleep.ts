// A synchronous pause for the few places that poll the kernel (freezer state, dying tasks, a
// process about to exit) inside an otherwise synchronous verb.
export function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
