/**
 * A small reader of the repository's Dockerfile, enough for the tests to check it without
 * a Docker engine: instructions with continuation lines joined and comments dropped,
 * grouped by build stage, with global `ARG` defaults substituted into `FROM`.
 * @see https://docs.docker.com/reference/dockerfile/
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './manifests.js';

/** One instruction: `COPY --from=build /app/dist ./dist` is `{ keyword: 'COPY', args: '--from=build /app/dist ./dist' }`. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

/** One `FROM` and what follows it. */
export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
  /** The instructions with this keyword, in order. */
  all(keyword: string): Instruction[];
  /** The last instruction with this keyword (the one that wins for USER, ENTRYPOINT, CMD). */
  last(keyword: string): Instruction | undefined;
}

function instructionsOf(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending !== '' && line.trimStart().startsWith('#')) return; // comments inside a continuation
    if (pending === '') start = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    const match = /^(\S+)\s*(.*)$/.exec(full)!;
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
  });
  return instructions;
}

function stage(image: string, name: string | undefined, instructions: Instruction[]): Stage {
  return {
    image,
    name,
    instructions,
    all: (keyword) => instructions.filter((i) => i.keyword === keyword),
    last: (keyword) => instructions.filter((i) => i.keyword === keyword).at(-1),
  };
}

/** Parses a Dockerfile into its stages. */
export function parseDockerfile(text: string): Stage[] {
  const globals = new Map<string, string>();
  const stages: { image: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const instruction of instructionsOf(text)) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.args
        .replace(
          /\$\{(\w+)\}|\$(\w+)/g,
          (_, a: string | undefined, b: string | undefined) => globals.get((a ?? b)!) ?? '',
        )
        .split(/\s+/)
        .filter((word) => !word.startsWith('--platform'));
      stages.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG')
        throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
      const [key, value = ''] = instruction.args.split('=', 2);
      globals.set(key!.trim(), value.trim());
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages.map((s) => stage(s.image, s.name, s.instructions));
}

/** The repository's Dockerfile, parsed. */
export function readDockerfile(): Stage[] {
  return parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
}

/** An exec-form (JSON array) ENTRYPOINT or CMD; a shell form would put `sh -c` in front of node. */
export function execForm(instruction: Instruction | undefined): string[] {
  if (instruction === undefined) throw new Error('instruction missing');
  const value = JSON.parse(instruction.args) as unknown;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new Error(`line ${instruction.line}: ${instruction.keyword} is not in exec form (a JSON array of strings)`);
  }
  return value;
}

/** `ENV A=1 B=2` (or the legacy `ENV A 1`) of a stage, later ones winning. */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.all('ENV')) {
    if (!args.includes('=')) {
      const [key, ...rest] = args.split(/\s+/);
      env[key!] = rest.join(' ');
      continue;
    }
    for (const match of args.matchAll(/(\w+)=("([^"]*)"|\S*)/g)) env[match[1]!] = match[3] ?? match[2]!;
  }
  return env;
}
