// The workflows a control worker runs (bundled by the Temporal worker).
export { SessionWorkflow } from './session/workflow.js';
export { FleetWorkflow } from './fleet.js';
export { WarmPoolWorkflow } from './warm-pool.js';
