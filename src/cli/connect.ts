import { SandboxClient } from '../client/sandbox-client.js';
import { fail, type OutputOptions } from './output.js';

/** The options every command that talks to Temporal takes. */
export interface GlobalOptions extends OutputOptions {
  address: string;
  namespace: string;
}

/**
 * Runs `fn` with a connected client and closes it after. An unreachable server, or an error from
 * `fn` (first turned into something a person can act on by `explain`), ends the command through `fail`.
 */
export async function runWithClient<T>(
  g: GlobalOptions,
  fn: (client: SandboxClient) => Promise<T>,
  explain: (err: unknown) => unknown = (err) => err,
): Promise<T> {
  const client = await SandboxClient.connect({ address: g.address, namespace: g.namespace }).catch((err: Error) =>
    fail(new Error(`cannot reach Temporal at ${g.address}: ${err.message}`), g.json),
  );
  try {
    return await fn(client);
  } catch (err) {
    return fail(explain(err), g.json);
  } finally {
    await client.close();
  }
}
