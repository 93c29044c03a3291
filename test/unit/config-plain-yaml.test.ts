/**
 * The plain-YAML fast path (`config/plain-yaml.ts`) against its oracle, `yaml`'s own
 * `parse`: every text it reads must give exactly what `yaml` gives, and a text it does
 * not recognise is left to `yaml` (it returns `undefined`). Texts come from a list of
 * edge cases and from a seeded generator of lines inside and just outside the subset.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { parsePlainYaml } from '../../src/config/plain-yaml.js';

/** `yaml`'s value of `text`, or the marker `error` when it refuses it. */
function oracle(text: string): unknown {
  try {
    return parse(text, { prettyErrors: false });
  } catch {
    return 'error';
  }
}

const CONFIG = `# token-rotator
store:
  kind: file
  directory: /var/lib/token-rotator

policy:
  schedule: "*/5 * * * *"
  concurrency: 4
log_level: info
providers:
  # the billing API
  p00001:
    kind: oauth2
    token_url: https://auth.example.test/token
    client_id: bench-client-p00001
    client_secret: \${file:/run/secrets/p00001}
  klikoo-prod:
    kind: klikoo
    base_url: 'https://api.example.test'
    client_secret: \${store:credentials/klikoo#client_secret}
`;

describe('parsePlainYaml', () => {
  it('reads a config of nested block mappings as yaml does', () => {
    expect(parsePlainYaml(CONFIG)).toStrictEqual(parse(CONFIG));
  });

  it.each([
    ['an integer', 'a: 42\n'],
    ['zero', 'a: 0\n'],
    ['null, ~ and an empty value', 'a: null\nb: ~\nc:\nd: NULL\n'],
    ['booleans in every core-schema spelling', 'a: true\nb: True\nc: TRUE\nd: false\ne: False\nf: FALSE\n'],
    ['words YAML 1.1 took for booleans', 'a: yes\nb: no\nc: on\nd: off\ne: y\n'],
    ['quoted strings', `a: 'x # y'\nb: "z: w"\nc: ''\nd: ""\ne: '42'\n`],
    ['a # without a space before it', 'a: x#y\nb: ${store:p#k}\n'],
    ['a colon without a space after it', 'a: https://x.test:8443/a\n'],
    ['a comment after an empty value', 'a: # nothing\nb: 1\n'],
    ['a comment after a key that opens a mapping', 'a: # section\n  b: 1\n'],
    ['comments at any indentation', 'a:\n  b: 1\n# top\n      # deep\n  c: 2\n'],
    ['no final newline', 'a:\n  b: c'],
    ['trailing spaces', 'a: b   \nc:   \n'],
    ['a key with dots and dashes', 'a.b-c_d: 1\n'],
    ['a mapping back two levels', 'a:\n  b:\n    c: 1\nd: 2\n'],
    ['an empty value at the end', 'a:\n  b:\n'],
    ['unicode in a plain string', 'a: caffè ☕\n'],
  ])('reads %s as yaml does', (_name, text) => {
    expect(parsePlainYaml(text)).toStrictEqual(oracle(text));
  });

  it.each([
    ['a sequence', 'a:\n  - b\n'],
    ['a flow mapping', 'a: { b: 1 }\n'],
    ['a flow sequence', 'a: [1, 2]\n'],
    ['an anchor and an alias', 'a: &x 1\nb: *x\n'],
    ['a tag', 'a: !!str 1\n'],
    ['a block scalar', 'a: |\n  text\n'],
    ['an escape in double quotes', 'a: "\\n"\n'],
    ['a quoted quote', "a: 'it''s'\n"],
    ['a comment after a value', 'a: b # c\n'],
    ['a float', 'a: 1.5\n'],
    ['an octal-looking integer', 'a: 0755\n'],
    ['a signed integer', 'a: -1\n'],
    ['a hexadecimal integer', 'a: 0x1F\n'],
    ['.inf', 'a: .inf\n'],
    ['a multi-line plain scalar', 'a: b\n  c\n'],
    ['a tab', 'a:\tb\n'],
    ['CRLF line ends', 'a: b\r\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a quoted key', '"a": 1\n'],
    ['a key that is a number', '1: a\n'],
    ['a key that is a boolean', 'true: a\n'],
    ['__proto__', '__proto__: a\n'],
    ['a merge key', '<<: a\n'],
    ['a document marker', '---\na: 1\n'],
    ['a directive', '%YAML 1.2\n---\na: 1\n'],
    ['an indented document', '  a: 1\n'],
    ['an inconsistent indentation', 'a:\n    b: 1\n  c: 2\n'],
    ['a nested line under a scalar', 'a: 1\n  b: 2\n'],
    ['a key without a space after its colon', 'a:b\n'],
    ['a value ending in a colon', 'a: b:\n'],
    ['a compact mapping in a value', 'a: b: c\n'],
    ['an alias-looking value', 'a: */5 * * * *\n'],
    ['nothing but comments', '# nothing\n'],
    ['an empty text', ''],
  ])('leaves %s to yaml', (_name, text) => {
    expect(parsePlainYaml(text)).toBeUndefined();
  });

  it('gives what yaml gives for every generated text it reads, and reads most of them', () => {
    const keys = ['a', 'b', 'c_d', 'e.f', 'g-h', 'null', '1', 'x y', '__proto__'];
    const values = [
      '',
      ' 1',
      ' 0',
      ' 007',
      ' 12345678901234567',
      ' 1.0',
      ' -3',
      ' true',
      ' False',
      ' ~',
      ' Null',
      ' nULL',
      ' word',
      ' two words',
      ' a#b',
      ' a #b',
      ' a: b',
      ' a:',
      ' ${env:X}',
      ' /path/to',
      " 'q'",
      " 'q''q'",
      ' "d"',
      ' "d\\"',
      ' [1]',
      ' {a: 1}',
      ' &anchor v',
      ' !tag v',
      ' - x',
      ' # c',
      ' |',
      ':x',
      '   spaced   ',
    ];
    let seed = 13;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    let read = 0;
    const total = 3000;
    for (let i = 0; i < total; i++) {
      const lines: string[] = [];
      let depth = 0;
      const count = 1 + random(8);
      for (let j = 0; j < count; j++) {
        const kind = random(10);
        if (kind === 0) lines.push(`${' '.repeat(random(6))}# comment`);
        else if (kind === 1) lines.push('');
        else {
          depth = Math.max(0, Math.min(depth + random(3) - 1, 3));
          const indent = random(20) === 0 ? 1 : depth * 2;
          lines.push(`${' '.repeat(indent)}${keys[random(keys.length)]}:${values[random(values.length)]}`);
        }
      }
      const text = lines.join('\n') + (random(2) === 0 ? '\n' : '');
      const fast = parsePlainYaml(text);
      if (fast === undefined) continue;
      read++;
      expect(fast, JSON.stringify(text)).toStrictEqual(oracle(text));
    }
    expect(read).toBeGreaterThan(total / 10);
  });
});

describe('parseConfig with the fast path', () => {
  it('loads the same config from a plain text and from one only yaml reads', async () => {
    const env = { X: 'a-client-secret-of-some-length' };
    const plain =
      'providers:\n  api:\n    kind: oauth2\n    token_url: https://a.test/t\n    client_id: c\n    client_secret: ${env:X}\n';
    const flow =
      '{ providers: { api: { kind: oauth2, token_url: "https://a.test/t", client_id: c, client_secret: "${env:X}" } } }\n';
    expect(parsePlainYaml(plain)).toBeDefined();
    expect(parsePlainYaml(flow)).toBeUndefined();

    const fromPlain = await (await parseConfig(plain, 't.yaml', env)).resolve(async () => undefined);
    const fromFlow = await (await parseConfig(flow, 't.yaml', env)).resolve(async () => undefined);

    expect(fromPlain).toStrictEqual(fromFlow);
  });
});
