import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { withTable } from '../../scripts/config-docs.ts';
import { schema } from '../../src/config/schema.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

it('documents every setting exactly as the schema defines it (run `npm run docs` to update)', () => {
  expect(readme).toBe(withTable(readme));
  for (const name of Object.keys(schema)) expect(readme).toContain(`| \`${name}\` |`);
});
