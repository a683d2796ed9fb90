export { createSandboxActivities } from './activities.js';
export type { SandboxActivities } from './types.js';
