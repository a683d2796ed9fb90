import { fileURLToPath } from 'node:url';

export const workflowsPaths = {
  all: fileURLToPath(new URL('../fixtures/workflows.ts', import.meta.url)),
};
