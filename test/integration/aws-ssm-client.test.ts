/**
 * The thin SSM client against a real HTTP peer on loopback that answers as Parameter Store
 * does (AWS JSON 1.1), so the request it signs, the retries it makes and the errors it
 * throws are checked at the wire. The same file passed against `@aws-sdk/client-ssm`
 * (the adapter it replaced), so each expectation is the SDK's behaviour too. moto
 * (aws-store.test.ts and the e2e tests) proves the store works with it end to end.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { sdkParameterStore } from '../../src/stores/aws/client.js';
import { ParameterCells } from '../../src/stores/aws/parameters.js';

interface Seen {
  readonly target: string | undefined;
  readonly contentType: string | undefined;
  readonly authorization: string;
  readonly body: Record<string, unknown>;
}
type Answer = { status: number; body: unknown; headers?: Record<string, string> };

const KEYS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-real-secret-key-for-tests' };
let server: Server;
let endpoint: string;
let answers: Answer[];
let seen: Seen[];

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeEach(async () => {
  answers = [];
  seen = [];
  server = createServer((request, response) => {
    void bodyOf(request).then((text) => {
      seen.push({
        target: request.headers['x-amz-target'] as string | undefined,
        contentType: request.headers['content-type'],
        authorization: request.headers.authorization ?? '',
        body: JSON.parse(text) as Record<string, unknown>,
      });
      const answer = answers.shift() ?? { status: 500, body: { __type: 'NoAnswerQueued' } };
      response.writeHead(answer.status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': 'req-1',
        ...answer.headers,
      });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await new Promise((done) => server.close(done));
});

const cells = (maxAttempts = 3, at = endpoint) => {
  const api = sdkParameterStore(
    { region: 'eu-south-1', ssm_endpoint: at, max_attempts: maxAttempts },
    { credentials: KEYS, requestTimeoutMs: 5_000 },
  );
  return { api, cells: new ParameterCells(api) };
};

describe('the thin SSM client', () => {
  it('sends a SigV4-signed AWS JSON 1.1 request for ssm in the region, and reads the parameter back', async () => {
    answers.push({
      status: 200,
      body: { Parameter: { Name: '/tr/tokens/a', Value: '{"a":1}', Version: 4, LastModifiedDate: 1_780_000_000.5 } },
    });
    const { api, cells: parameters } = cells();

    const value = await parameters.get('/tr/tokens/a');

    expect(value).toEqual({ version: 4, text: '{"a":1}', modifiedAt: 1_780_000_000_500 });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      target: 'AmazonSSM.GetParameter',
      contentType: 'application/x-amz-json-1.1',
      body: { Name: '/tr/tokens/a', WithDecryption: true },
    });
    expect(seen[0]?.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-south-1\/ssm\/aws4_request, SignedHeaders=[^,]*x-amz-target[^,]*, Signature=[0-9a-f]{64}$/,
    );
    api.destroy();
  });

  it('reports a missing parameter as absent (ParameterNotFound), after one request', async () => {
    answers.push({ status: 400, body: { __type: 'ParameterNotFound', message: 'not found' } });
    const { api, cells: parameters } = cells();

    expect(await parameters.get('/tr/tokens/none')).toBeUndefined();
    expect(seen).toHaveLength(1);
    api.destroy();
  });

  it('writes over a version with PutParameter and returns the new one; a create sends the tags', async () => {
    answers.push({ status: 200, body: { Version: 1, Tier: 'Standard' } }, { status: 200, body: { Version: 2 } });
    const { api, cells: parameters } = cells();
    const options = { secure: true, kmsKeyId: 'alias/tr', tags: { app: 'token-rotator' } };

    expect(await parameters.put('tokens/a', '/tr/tokens/a', 'v1', null, options)).toBe(1);
    expect(await parameters.put('tokens/a', '/tr/tokens/a', 'v2', 1, options)).toBe(2);

    expect(seen.map((s) => s.target)).toEqual(['AmazonSSM.PutParameter', 'AmazonSSM.PutParameter']);
    expect(seen[0]?.body).toEqual({
      Name: '/tr/tokens/a',
      Value: 'v1',
      Type: 'SecureString',
      Tier: 'Intelligent-Tiering',
      KeyId: 'alias/tr',
      Overwrite: false,
      Tags: [{ Key: 'app', Value: 'token-rotator' }],
    });
    expect(seen[1]?.body).toMatchObject({ Overwrite: true, Value: 'v2' });
    api.destroy();
  });

  it('retries a 503 and a throttled answer as the SDK does, then succeeds', async () => {
    answers.push(
      { status: 503, body: {} },
      { status: 400, body: { __type: 'com.amazonaws.ssm#ThrottlingException', message: 'Rate exceeded' } },
      { status: 200, body: { Parameter: { Value: 'x', Version: 1 } } },
    );
    const { api, cells: parameters } = cells(3);

    expect(await parameters.get('/tr/tokens/a')).toMatchObject({ version: 1, text: 'x' });
    expect(seen).toHaveLength(3);
    api.destroy();
  });

  it('fails with a retryable StoreError naming the call, the parameter, the exception and the status when 5xx persists', async () => {
    for (let i = 0; i < 2; i++) answers.push({ status: 500, body: { __type: 'InternalServerError', message: 'boom' } });
    const { api, cells: parameters } = cells(2);

    const error = await parameters.get('/tr/tokens/a').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).retryable).toBe(true);
    expect((error as StoreError).message).toBe(
      'SSM GetParameter failed for parameter /tr/tokens/a (InternalServerError, HTTP 500)',
    );
    expect(seen).toHaveLength(2);
    api.destroy();
  });

  it('does not retry an access denial, and reports it as a non-retryable StoreError without the request', async () => {
    answers.push({
      status: 400,
      body: { __type: 'AccessDeniedException', message: 'User: arn:aws:iam::1:user/x is not authorized' },
      headers: { 'x-amzn-errortype': 'AccessDeniedException:http://internal.amazon.com/coral/' },
    });
    const { api, cells: parameters } = cells(3);

    const error = await parameters
      .put('tokens/a', '/tr/tokens/a', 'secret-value', 3, { secure: true, tags: {} })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).retryable).toBe(false);
    expect((error as StoreError).message).toBe(
      'SSM PutParameter failed for parameter /tr/tokens/a (AccessDeniedException, HTTP 400)',
    );
    expect((error as StoreError).message).not.toContain('secret-value');
    expect(seen).toHaveLength(1);
    api.destroy();
  });

  it('fails with a retryable StoreError naming ECONNREFUSED when nothing listens', async () => {
    const closed = endpoint;
    await new Promise((done) => server.close(done));
    server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { api, cells: parameters } = cells(2, closed);

    const error = await parameters.get('/tr/tokens/a').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).retryable).toBe(true);
    expect((error as StoreError).message).toMatch(
      /^SSM GetParameter failed for parameter \/tr\/tokens\/a \(.*ECONNREFUSED\)$/,
    );
    api.destroy();
  });

  it('lists the names under a path page by page with GetParametersByPath', async () => {
    answers.push(
      { status: 200, body: { Parameters: [{ Name: '/tr/a' }], NextToken: 'n1' } },
      { status: 200, body: { Parameters: [{ Name: '/tr/b/c' }] } },
    );
    const { api, cells: parameters } = cells();

    expect(await parameters.namesUnder('/tr/')).toEqual(['/tr/a', '/tr/b/c']);
    expect(seen.map((s) => s.body)).toEqual([
      { Path: '/tr', Recursive: true, WithDecryption: false },
      { Path: '/tr', Recursive: true, WithDecryption: false, NextToken: 'n1' },
    ]);
    api.destroy();
  });

  describe('without ssm_endpoint, the endpoint configured for SSM as the SDK finds it', () => {
    const withoutEndpoint = () =>
      new ParameterCells(sdkParameterStore({ region: 'eu-south-1', max_attempts: 1 }, { credentials: KEYS }));

    it('takes AWS_ENDPOINT_URL_SSM', async () => {
      vi.stubEnv('AWS_ENDPOINT_URL_SSM', endpoint);
      vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9/');
      answers.push({ status: 200, body: { Parameter: { Value: 'x', Version: 2 } } });

      expect(await withoutEndpoint().get('/tr/a')).toMatchObject({ version: 2 });
      expect(seen).toHaveLength(1);
    });

    it("takes the shared config file's services section", async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ssm-config-'));
      try {
        const file = join(dir, 'config');
        await writeFile(
          file,
          `[profile local]\nservices = local-ssm\n\n[services local-ssm]\nssm =\n  endpoint_url = ${endpoint}\n`,
        );
        vi.stubEnv('AWS_CONFIG_FILE', file);
        vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(dir, 'none'));
        vi.stubEnv('AWS_PROFILE', 'local');
        vi.stubEnv('AWS_ENDPOINT_URL_SSM', '');
        vi.stubEnv('AWS_ENDPOINT_URL', '');
        answers.push({ status: 200, body: { Parameter: { Value: 'y', Version: 3 } } });

        expect(await withoutEndpoint().get('/tr/b')).toMatchObject({ version: 3 });
        expect(seen).toHaveLength(1);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
