// Loaded natively by jest; tsx (node --import tsx) resolves the TypeScript.
export { default } from './setup.ts';
