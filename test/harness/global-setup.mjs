// Jest loads global setup outside its module system; as .mjs it is imported natively, and tsx
// (node --import tsx, see package.json) resolves the TypeScript it imports.
export { default } from './setup-stack.ts';
