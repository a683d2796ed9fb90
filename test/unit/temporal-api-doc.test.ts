import { readFileSync } from 'node:fs';
import { temporalApiDoc } from '../../scripts/temporal-api-doc.js';

describe('docs/temporal-api.md', () => {
  it('matches the schemas the workflow validates with (run `npm run docs:api` after changing a message)', () => {
    const written = readFileSync(new URL('../../docs/temporal-api.md', import.meta.url), 'utf8');
    expect(written).toBe(temporalApiDoc());
  });
});
