import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { fingerprint } from '../../src/observability/fingerprint.js';
import { CENSOR, createLogger, REDACTED_KEYS, redacted } from '../../src/observability/logger.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', destination }) };
}

describe('logger', () => {
  it('redacts secret fields at the top level and nested, whatever the code passes', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        access_token: 'AT-secret-1',
        refresh_token: 'RT-secret-2',
        client_secret: 'CS-secret-3',
        password: 'PW-secret-4',
        response: { body: { access_token: 'AT-secret-5', token: 'T-secret-6' } },
        headers: { authorization: 'Bearer AT-secret-7', 'Open-Api-Signature': 'SIG-secret-8' },
      },
      'oops',
    );
    const out = lines.join('');
    for (let i = 1; i <= 8; i++) expect(out).not.toMatch(new RegExp(`secret-${i}`));
    expect(out).toContain('[redacted]');
    expect(JSON.parse(out)).toMatchObject({ msg: 'oops', access_token: '[redacted]' });
  });
});

describe('redaction', () => {
  it("replaces every secret-named field at the top level, nested, in arrays, in a child's bindings and in an error", () => {
    for (const key of REDACTED_KEYS) {
      const { lines, logger } = capture();
      const error = Object.assign(new Error('refused'), { [key]: `in-error-${key}` });
      logger.child({ [key]: `in-bindings-${key}`, nested: { [key]: `in-nested-bindings-${key}` } }).warn(
        {
          [key]: `top-${key}`,
          one: { [key]: `depth-2-${key}` },
          two: { deeper: { [key]: `depth-3-${key}` } },
          four: { a: { b: { c: { [key]: `depth-5-${key}` } } } },
          list: [{ [key]: `in-array-${key}` }, [{ [key]: `in-inner-array-${key}` }]],
          err: error,
        },
        'line',
      );
      const out = lines.join('');
      expect(out, key).not.toContain(`-${key}"`);
      const line = JSON.parse(out);
      expect(line[key], key).toBe(CENSOR);
      expect(line.two.deeper[key], key).toBe(CENSOR);
      expect(line.list[1][0][key], key).toBe(CENSOR);
      expect(line.err, key).toMatchObject({ type: 'Error', message: 'refused', [key]: CENSOR });
      expect(line.err.stack, key).toContain('refused');
    }
  });

  it('changes nothing the caller holds, and leaves a line without secrets as it was', () => {
    const { lines, logger } = capture();
    const object = { provider: 'klikoo', token: 'T-secret', facts: { expires_in: 3600, refresh_token: 'R-secret' } };
    const plain = { provider: 'klikoo', facts: { expires_in: 3600 }, err: { class: 'store', code: 'X', message: 'm' } };

    logger.info(object, 'with secrets');
    logger.info(plain, 'without');

    expect(object).toEqual({
      provider: 'klikoo',
      token: 'T-secret',
      facts: { expires_in: 3600, refresh_token: 'R-secret' },
    });
    expect(redacted(plain)).toBe(plain);
    const [first, second] = lines
      .join('')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(first).toMatchObject({ token: CENSOR, facts: { expires_in: 3600, refresh_token: CENSOR } });
    expect(second).toMatchObject(plain);
  });

  it('writes no field for a secret-named field left undefined', () => {
    const { lines, logger } = capture();

    logger.info({ provider: 'klikoo', refresh_token: undefined }, 'line');

    expect(JSON.parse(lines.join(''))).not.toHaveProperty('refresh_token');
  });
});

describe('fingerprint', () => {
  it('is short, stable, and does not contain the secret', () => {
    const secret = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.payload.sig';
    expect(fingerprint(secret)).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(fingerprint(secret)).toBe(fingerprint(secret));
    expect(fingerprint(secret)).not.toBe(fingerprint(`${secret}x`));
  });
});

describe('error codes', () => {
  it('are each documented in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const code of Object.values(ErrorCodes)) expect(readme, code).toContain(`| \`${code}\` |`);
  });
});
