export { default } from './teardown.ts';
