import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withTable } from '../../scripts/config-docs.ts';
import { schema } from '../../src/config/schema.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
/** The README and every page of the manual, as paths from the repository's root. */
const pages = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** Markdown without its fenced blocks, where a `#` is only text. */
const unfenced = (markdown: string) => markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
/** Markdown without its fenced blocks and code spans, where a `#` or `[x](y)` is only text. */
const prose = (markdown: string) => unfenced(markdown).replace(/`[^`\n]*`/g, '');

/** The anchors GitHub gives a page's headings: lowercase, punctuation dropped, spaces as `-`. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  // A heading's code spans keep their text in its anchor (the backticks go with the punctuation).
  for (const [, text = ''] of unfenced(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const slug = text
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

it('documents every setting exactly as the schema defines it (run `npm run docs` to update)', () => {
  const page = read('docs/configuration.md');
  expect(page).toBe(withTable(page));
  for (const name of Object.keys(schema)) expect(page).toContain(`| \`${name}\` |`);
});

it('keeps the README a front door: at most 250 lines', () => {
  expect(read('README.md').split('\n').length).toBeLessThanOrEqual(250);
});

describe('links between the README and the manual', () => {
  it.each(pages)('%s: every relative link points at a file that exists, and at a heading it has', (page) => {
    const links = [...prose(read(page)).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map(
      ([, href = '']) => href,
    );
    const broken: string[] = [];
    for (const href of links.filter((link) => !/^[a-z][a-z0-9+.-]*:/i.test(link))) {
      const [path = '', anchor] = href.split('#');
      const file = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), decodeURIComponent(path)));
      if (!existsSync(join(ROOT, file))) broken.push(`${href}: no such file ${file}`);
      else if (anchor !== undefined && !(file.endsWith('.md') && anchors(read(file)).has(anchor)))
        broken.push(`${href}: no heading #${anchor} in ${file}`);
    }
    expect(broken).toEqual([]);
  });

  it('finds the headings as GitHub names them (the check can fail)', () => {
    expect([
      ...anchors(
        '# A title\n## Restricted keys on the target (rrsync)\n```sh\n# not a heading\n```\n## A title\n',
      ),
    ]).toEqual(['a-title', 'restricted-keys-on-the-target-rrsync', 'a-title-1']);
  });
});
