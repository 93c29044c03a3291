/**
 * Duplicate keys: `parseConfig` parses without `yaml`'s quadratic duplicate-key check and
 * finds duplicates itself (issue 13). The oracle is `yaml`'s own check: for every text
 * below, the error `parseConfig` reports must be the one `yaml.parse` with its default
 * options raises, at the same line and column, and a text `yaml` accepts must not be
 * refused as YAML.
 */
import { describe, expect, it } from 'vitest';
import { parse, YAMLParseError } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

/** What `yaml`'s own check says of `text`: the message `parseConfig` must give, or undefined when it accepts it. */
function expectedYamlMessage(text: string): string | undefined {
  try {
    parse(text, { prettyErrors: false });
    return undefined;
  } catch (error) {
    if (!(error instanceof YAMLParseError)) throw error;
    // The same error again with yaml's own line and column, so the position is not computed as parseConfig does.
    let pretty: YAMLParseError | undefined;
    try {
      parse(text);
    } catch (again) {
      pretty = again as YAMLParseError;
    }
    const position = pretty?.linePos?.[0];
    if (position === undefined) throw new Error('yaml gave no line and column');
    const reason = error.message.split(/:\s/)[0]?.trim();
    return `t.yaml: not valid YAML or JSON at line ${position.line}, column ${position.col}: ${reason}`;
  }
}

/** The YAML error `parseConfig` reports for `text`, or undefined when it is not a YAML error. */
async function yamlMessageOf(text: string): Promise<string | undefined> {
  const error = await parseConfig(text, 't.yaml', {}).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) return undefined;
  expect(error).toBeInstanceOf(ConfigError);
  const message = (error as ConfigError).issues[0]?.message ?? '';
  return message.includes('not valid YAML or JSON') ? message : undefined;
}

const provider = (name: string) =>
  `  ${name}:\n    kind: oauth2\n    token_url: https://auth.example.test/token\n    client_id: c\n    client_secret: \${env:SECRET}\n`;

const duplicates: Record<string, string> = {
  'a provider named twice': `providers:\n${provider('a')}${provider('b')}${provider('c')}${provider('b')}`,
  'a field twice in a provider': `providers:\n  a:\n    kind: oauth2\n    client_id: c\n    kind: oauth2\n`,
  'a plain and a quoted spelling of one key': 'a: 1\n"a": 2\n',
  "two spellings of null ('~' and 'null')": '~: 1\nnull: 2\n',
  'two spellings of one number': '1: a\n1.0: b\n',
  'a key in a flow mapping (JSON)': '{"providers": {"a": {"x": 1, "x": 2}}}',
  'a key in a flow mapping inside a sequence': 'x:\n  - {k: 1, k: 2}\n',
  'an explicit key': '? a\n: 1\n? a\n: 2\n',
  'an anchored first key': '&k a: 1\na: 2\n',
  'an anchored second key': 'a: 1\n&k a: 2\n',
  'a key after a comment': 'a: 1\n# a comment\na: 2\n',
  'a key made a string by a tag': '!!str a: 1\na: 2\n',
  'a key inside a key': '? {a: 1, a: 2}\n: v\n',
  'keys with CRLF line ends': 'a: 1\r\nb: 2\r\na: 3\r\n',
  'a nested duplicate before an outer one': 'a:\n  x: 1\n  x: 2\na: 3\n',
  'an outer duplicate before a nested one': 'b: 1\nb: 2\na:\n  x: 1\n  x: 2\n',
  'a duplicate before a syntax error': 'a: 1\na: 2\nb: [unclosed\n',
  'a duplicate after a syntax error': 'b: {x: 1\na: 1\na: 2\n',
  'a duplicate before a second document': 'a: 1\na: 2\n---\nb: 1\n',
  'a duplicate in a second document': 'a: 1\n---\nb: 1\nb: 2\n',
  'a duplicate with a bad indent near it': 'a:\n  x: 1\n   y: 2\n  x: 3\n',
};

const accepted: Record<string, string> = {
  'a number and a string that read alike': '1: x\n"1": y\n',
  'two NaN keys (never equal)': '.nan: 1\n.nan: 2\n',
  'a number key and a tagged string': '!!str 1: a\n1: b\n',
  'the same key in two mappings': 'a:\n  x: 1\nb:\n  x: 2\n',
  'the same key in sibling flow mappings': '[{k: 1}, {k: 2}]\n',
  'aliases as keys': 'a: &x 1\nb: *x\n*x : 3\n',
};

describe('parseConfig: duplicate keys', () => {
  it.each(Object.entries(duplicates))('refuses %s as yaml does, at the same line and column', async (_, text) => {
    const expected = expectedYamlMessage(text);
    expect(expected).toBeDefined();

    expect(await yamlMessageOf(text)).toBe(expected);
  });

  it.each(Object.entries(accepted))('accepts %s as yaml does', async (_, text) => {
    expect(expectedYamlMessage(text)).toBeUndefined();

    expect(await yamlMessageOf(text)).toBeUndefined();
  });

  it('names the line and column of a provider named twice among thousands', async () => {
    let text = 'providers:\n';
    for (let i = 0; i < 2_000; i++) text += provider(`p${i}`);
    text += provider('p1234');

    const message = await yamlMessageOf(text);

    expect(message).toBe(`t.yaml: not valid YAML or JSON at line ${2_000 * 5 + 2}, column 3: Map keys must be unique`);
    expect(message).toBe(expectedYamlMessage(text));
  });

  it('parses a config without duplicates into the values yaml reads', async () => {
    const text = `store:\n  kind: file\n  directory: /tmp/x\nproviders:\n${provider('a')}${provider('b')}`;

    const loaded = await parseConfig(text, 't.yaml', { SECRET: 's'.repeat(32) });
    const config = await loaded.resolve(async () => undefined);

    const read = parse(text) as { providers: Record<string, { client_id: string; token_url: string }> };
    expect(loaded.providerNames).toEqual(Object.keys(read.providers));
    expect(config.providers['b']).toMatchObject({
      kind: 'oauth2',
      client_id: read.providers['b']?.client_id,
      token_url: read.providers['b']?.token_url,
      client_secret: 's'.repeat(32),
    });
  });
});
