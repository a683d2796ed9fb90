export { default } from './teardown-stack.ts';
