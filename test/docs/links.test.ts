/**
 * The docs stand alone (issue 12): every link in `README.md` and `docs/**\/*.md` that is
 * not a web address leads to a file of the repository, and to a heading of it when it
 * names one; every `docs/….md#anchor` a source comment cites exists too. So a pointer can
 * neither leave the repository nor go stale when a heading is renamed.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchors, documentationFiles, ROOT } from './markdown.js';

/** Where a pointer was found and what it points at. */
interface Pointer {
  readonly from: string;
  readonly line: number;
  /** A path relative to the repository root, or '' for the same file. */
  readonly path: string;
  readonly anchor: string | undefined;
}

/** Links outside code blocks and code spans, web addresses and `mailto:` left out. */
function markdownLinks(file: string): Pointer[] {
  const pointers: Pointer[] = [];
  let inFence = false;
  readFileSync(join(ROOT, file), 'utf8')
    .split('\n')
    .forEach((text, index) => {
      if (/^ {0,3}(```|~~~)/.test(text)) inFence = !inFence;
      if (inFence) return;
      const prose = text.replace(/`[^`]*`/g, '');
      for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = match[1] ?? '';
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const [path = '', anchor] = target.split('#');
        pointers.push({
          from: file,
          line: index + 1,
          path: path === '' ? '' : normalize(join(dirname(file), decodeURIComponent(path))),
          anchor: anchor === undefined || anchor === '' ? undefined : decodeURIComponent(anchor),
        });
      }
    });
  return pointers;
}

/** `docs/….md` and `docs/….md#anchor` cited in the comments of `src/`. */
function sourcePointers(): Pointer[] {
  const files = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((name) =>
    name.endsWith('.ts'),
  );
  return files.flatMap((name) => {
    const from = relative(ROOT, join(ROOT, 'src', name));
    return readFileSync(join(ROOT, from), 'utf8')
      .split('\n')
      .flatMap((text, index) =>
        [...text.matchAll(/\bdocs\/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md(?:#([A-Za-z0-9_-]+))?/g)].map((match) => ({
          from,
          line: index + 1,
          path: match[0].split('#')[0] ?? '',
          anchor: match[1],
        })),
      );
  });
}

/** Why a pointer leads nowhere, or undefined when it leads somewhere. */
function brokenBecause(pointer: Pointer): string | undefined {
  const path = pointer.path === '' ? pointer.from : pointer.path;
  if (path.startsWith('..')) return `${path} is outside the repository`;
  if (!existsSync(join(ROOT, path))) return `${path} does not exist`;
  if (pointer.anchor === undefined) return undefined;
  if (!path.endsWith('.md')) return `${path} is not Markdown, so has no #${pointer.anchor}`;
  return anchors(readFileSync(join(ROOT, path), 'utf8')).has(pointer.anchor)
    ? undefined
    : `${path} has no heading #${pointer.anchor}`;
}

function broken(pointers: readonly Pointer[]): string[] {
  return pointers.flatMap((pointer) => {
    const reason = brokenBecause(pointer);
    return reason === undefined ? [] : [`${pointer.from}:${pointer.line}: ${reason}`];
  });
}

describe('links in the docs', () => {
  it.each(documentationFiles())('%s links only to files and headings of the repository', (file) => {
    expect(broken(markdownLinks(file))).toEqual([]);
  });

  it('README.md links to the protocol notes of each provider kind', () => {
    const targets = markdownLinks('README.md').map((pointer) => `${pointer.path}#${pointer.anchor ?? ''}`);
    expect(targets).toEqual(
      expect.arrayContaining(['docs/protocols.md#oauth-20', 'docs/protocols.md#keliweb', 'docs/protocols.md#klikoo']),
    );
  });
});

describe('docs cited in source comments', () => {
  it('exist, with the headings they name', () => {
    const pointers = sourcePointers();
    expect(pointers.length).toBeGreaterThan(0);
    expect(broken(pointers)).toEqual([]);
  });
});
