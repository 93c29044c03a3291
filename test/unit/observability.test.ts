import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { fingerprint } from '../../src/observability/fingerprint.js';
import { createLogger } from '../../src/observability/logger.js';

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
