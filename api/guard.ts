// Callbacks that run on behalf of one request (response hooks, stream listeners, timers) are
// wrapped so that an exception inside them fails that request, never the process: in Node an
// exception thrown from an event listener ends the process.

/** fn, with any exception passed to onError instead of thrown. */
export function guarded<A extends unknown[]>(fn: (...args: A) => void, onError: (err: unknown) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      try {
        onError(err);
      } catch {
        /* the error path itself failed: the request is already lost */
      }
    }
  };
}
