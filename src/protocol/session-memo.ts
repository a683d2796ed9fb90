import type { Resources } from '../common/sandbox.js';
import type { CreateSessionRequest } from './messages.js';

/** The memo a session carries from its start: what it was made of, for the UI's list and detail views. */
export function sessionMemo(req: Pick<CreateSessionRequest, 'template' | 'resources' | 'quotaBytes'>): {
  template: string;
  resources: Resources;
  quotaBytes?: number;
} {
  return { template: req.template, resources: req.resources, ...(req.quotaBytes !== undefined ? { quotaBytes: req.quotaBytes } : {}) };
}
