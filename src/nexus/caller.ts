import type { Link } from 'nexus-rpc';

/**
 * Who asked for a session through Nexus, as the Web UI shows it in the session's details: the caller
 * workflow and namespace, read from the links the caller's server sent (a workflow event of the
 * caller's history). The links also go on the session's start, so the UI links the two histories.
 */
export function createdByNexus(links: readonly Link[]): string {
  for (const link of links) {
    const match = /^\/namespaces\/([^/]+)\/workflows\/([^/]+)\/([^/]+)\//.exec(link.url.pathname);
    if (link.url.protocol === 'temporal:' && match) {
      const [namespace, workflowId] = [decodeURIComponent(match[1]!), decodeURIComponent(match[2]!)];
      return `created through Nexus by workflow ${workflowId} in namespace ${namespace}`;
    }
  }
  return 'created through Nexus';
}
