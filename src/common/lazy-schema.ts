/**
 * A schema built on its first use rather than when its module loads. Every new workflow evaluates the
 * workflow modules afresh (reuseV8Context shares only preloaded modules, and the SDK deep-freezes
 * those, which a zod schema cannot parse through), and building all of them cost each new session
 * about 5 ms of its first workflow task: a workflow now builds only the schemas it uses.
 */
export function lazySchema<T extends object>(build: () => T): T {
  let built: T | undefined;
  const schema = () => (built ??= build());
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(schema(), key),
    has: (_, key) => Reflect.has(schema(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(schema()),
  });
}
