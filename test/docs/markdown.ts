/**
 * Finds the documents whose examples are checked (`README.md` and every `docs/**\/*.md`)
 * and extracts their fenced code blocks, each with the file, the line its text starts on
 * and the heading it sits under, so a failing check names the example it is about.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The repository root, two levels above this file. */
export const ROOT = join(import.meta.dirname, '..', '..');

/** One fenced code block of a Markdown file. */
export interface CodeBlock {
  /** The Markdown file, relative to the repository root (`README.md`, `docs/protocols.md`). */
  readonly file: string;
  /** The info string's first word, lower-cased: `yaml`, `ts`, `sh`, or `''` for a bare fence. */
  readonly lang: string;
  /** The 1-based line of the block's first line of text (the line after the opening fence). */
  readonly line: number;
  /** The nearest heading above the block, as written (`## Configuration`), or `''`. */
  readonly heading: string;
  /** The block's text, without the fences, ending with a newline. */
  readonly text: string;
}

/** `README.md` and the Markdown files under `docs/`, relative to `root`, in a stable order. */
export function documentationFiles(root: string = ROOT): string[] {
  let docs: string[] = [];
  try {
    docs = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.md'))
      .map((name) => relative(root, join(root, 'docs', name)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return ['README.md', ...docs.sort()];
}

const OPENING = /^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;

/**
 * The fenced blocks of a Markdown text (CommonMark fences: three or more backticks or
 * tildes, indented by at most three spaces, closed by a fence of the same character at
 * least as long). An unclosed fence runs to the end of the file, as CommonMark reads it.
 */
export function extractCodeBlocks(file: string, markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  let heading = '';
  for (let index = 0; index < lines.length; index++) {
    const current = lines[index] ?? '';
    const opening = OPENING.exec(current);
    if (opening === null) {
      const title = HEADING.exec(current);
      if (title !== null) heading = `${title[1]} ${title[2]}`;
      continue;
    }
    const indent = opening[1]?.length ?? 0;
    const fence = opening[2] ?? '```';
    const closing = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const body: string[] = [];
    const start = index + 2;
    index++;
    while (index < lines.length && !closing.test(lines[index] ?? '')) {
      // Content lines lose as much of their indentation as the opening fence had.
      const line = lines[index] ?? '';
      const strip = Math.min(indent, line.length - line.trimStart().length);
      body.push(line.slice(strip));
      index++;
    }
    blocks.push({
      file,
      lang: (opening[3] ?? '').toLowerCase(),
      line: start,
      heading,
      text: body.length === 0 ? '' : `${body.join('\n')}\n`,
    });
  }
  return blocks;
}

/** Every fenced block of every documentation file under `root`. */
export function documentationBlocks(root: string = ROOT): CodeBlock[] {
  return documentationFiles(root).flatMap((file) => extractCodeBlocks(file, readFileSync(join(root, file), 'utf8')));
}

/** The text of every heading outside code blocks, in order (`Token protocols`, `Keliweb`, …). */
export function headings(markdown: string): string[] {
  const found: string[] = [];
  let fence: RegExp | undefined;
  for (const line of markdown.split('\n')) {
    if (fence !== undefined) {
      if (fence.test(line)) fence = undefined;
      continue;
    }
    const opening = OPENING.exec(line);
    if (opening !== null) {
      const marker = opening[2] ?? '```';
      fence = new RegExp(`^ {0,3}${marker[0] === '`' ? '`' : '~'}{${marker.length},}\\s*$`);
      continue;
    }
    const title = HEADING.exec(line);
    if (title !== null) found.push(title[2] ?? '');
  }
  return found;
}

/**
 * The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces as
 * `-`, and `-1`, `-2` … after a repeated one.
 */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const heading of headings(markdown)) {
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** How a test names a block: `README.md:51 (## Configuration)`. */
export function blockName(block: Pick<CodeBlock, 'file' | 'line' | 'heading'>, line: number = block.line): string {
  return `${block.file}:${line}${block.heading === '' ? '' : ` (${block.heading})`}`;
}
