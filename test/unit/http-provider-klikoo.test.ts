/**
 * The Klikoo profile of docs/http-provider.md, written as `kind: http`, sends the very
 * request the built-in `klikoo` kind sends: with one fixed clock, one key and one set of
 * credentials, a loopback server records the raw bytes each writes on its connection
 * (request line, every header name and value in order, body), and they are equal. The
 * profile is the documentation's block itself, only its host pointed at the server.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { TokenProvider } from '../../src/providers/contract.js';
import { createHttpProvider } from '../../src/providers/http/index.js';
import type { HttpProviderConfig } from '../../src/providers/http/schema.js';
import { createKlikooProvider } from '../../src/providers/klikoo/index.js';
import type { KlikooProviderConfig } from '../../src/providers/klikoo/schema.js';
import { extractCodeBlocks, ROOT } from '../docs/markdown.js';

const DOC = 'docs/http-provider.md';
const DOCUMENTED_HOST = 'https://b2b-api.example.com';
/** 2022-03-21T10:11:40+07:00, the timestamp of Klikoo's own example, plus 789 ms the format must drop. */
const CLOCK = new Date('2022-03-21T03:11:40.789Z');

const key = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const clientId = randomUUID();
const clientSecret = randomBytes(16).toString('hex');
const scratch = mkdtempSync(join(tmpdir(), 'tr-http-klikoo-'));
const keyPath = join(scratch, 'klikoo.pem');
writeFileSync(keyPath, key, { mode: 0o600 });

/** Each connection's bytes, in the order connections were opened; every answer closes its connection. */
const connections: Buffer[][] = [];
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
      response.end(
        JSON.stringify({
          response_code: '200012000',
          response_message: 'Sukses',
          data: { access_token: 'tok-0f3c9a7e51d4', token_type: 'Bearer', expires_in: 900 },
        }),
      );
    });
  });
  server.on('connection', (socket: Socket) => {
    const chunks: Buffer[] = [];
    connections.push(chunks);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((closed) => server.close(closed));
  rmSync(scratch, { recursive: true, force: true });
});

/** The Klikoo block of the docs, its host and its key file pointed at this test's. */
function documentedProfile(): string {
  const block = extractCodeBlocks(DOC, readFileSync(join(ROOT, DOC), 'utf8')).find(
    (candidate) => candidate.heading === '## Worked example: Klikoo' && candidate.lang === 'yaml',
  );
  if (block === undefined) throw new Error(`${DOC} has no yaml block under "## Worked example: Klikoo"`);
  expect(block.text).toContain(DOCUMENTED_HOST);
  expect(block.text).toContain('${file:/run/secrets/klikoo.pem}');
  return block.text.replace(DOCUMENTED_HOST, origin).replace('${file:/run/secrets/klikoo.pem}', `\${file:${keyPath}}`);
}

async function resolvedSections(): Promise<{ http: HttpProviderConfig; builtIn: KlikooProviderConfig }> {
  const builtInSection = [
    '  builtin:',
    '    kind: klikoo',
    `    base_url: ${origin}`,
    '    client_id: ${env:KLIKOO_CLIENT_ID}',
    '    client_secret: ${store:credentials/klikoo#client_secret}',
    `    private_key: \${file:${keyPath}}`,
    '',
  ].join('\n');
  const loaded = await parseConfig(`${documentedProfile()}${builtInSection}`, 'klikoo.yaml', {
    KLIKOO_CLIENT_ID: clientId,
  });
  const config = await loaded.resolve(async (path, field) =>
    path === 'credentials/klikoo' && field === 'client_secret' ? clientSecret : undefined,
  );
  const http = config.providers['klikoo'];
  const builtIn = config.providers['builtin'];
  if (http?.kind !== 'http' || builtIn?.kind !== 'klikoo') throw new Error('the two sections did not load');
  return { http, builtIn };
}

async function rawRequestOf(provider: TokenProvider): Promise<{ bytes: Buffer; token: unknown }> {
  const before = connections.length;
  const token = await provider.obtain();
  expect(connections.length).toBe(before + 1);
  return { bytes: Buffer.concat(connections[before] ?? []), token };
}

describe('the Klikoo profile of kind http', () => {
  it('sends the bytes the built-in klikoo kind sends, given the same clock, key and credentials', async () => {
    const { http, builtIn } = await resolvedSections();
    const now = () => CLOCK;

    const fromBuiltIn = await rawRequestOf(createKlikooProvider(builtIn, 5000, now));
    const fromProfile = await rawRequestOf(createHttpProvider(http, 5000, { now }));

    const text = fromProfile.bytes.toString('utf8');
    expect(text).toMatch(/^POST \/v1\/open-api\/access-token HTTP\/1\.1\r\n/);
    expect(text.toLowerCase()).toContain('\r\nopen-api-timestamp: 2022-03-21t10:11:40+07:00\r\n');
    expect(text).toContain(`"additional_info":{"client_id":"${clientId}","client_secret":"${clientSecret}"}`);
    expect(fromProfile.bytes.equals(fromBuiltIn.bytes)).toBe(true);
    expect(text).toBe(fromBuiltIn.bytes.toString('utf8'));
    expect(fromProfile.token).toEqual(fromBuiltIn.token);
  });

  it('signs again, and differently, when the clock moves: nothing of one call is reused by the next', async () => {
    const { http, builtIn } = await resolvedSections();
    let clock = CLOCK.getTime();
    const now = () => new Date(clock);
    const profile = createHttpProvider(http, 5000, { now });
    const reference = createKlikooProvider(builtIn, 5000, now);

    const first = await rawRequestOf(profile);
    clock += 1000;
    const second = await rawRequestOf(profile);
    const referenceSecond = await rawRequestOf(reference);

    expect(second.bytes.equals(first.bytes)).toBe(false);
    expect(second.bytes.equals(referenceSecond.bytes)).toBe(true);
  });
});
