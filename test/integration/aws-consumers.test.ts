/**
 * The measuring tools of the AWS store, against a real moto_server: the call counter
 * (a proxy that counts what a client really sends) and the real third-party consumers
 * (the AWS CLI v1 and boto3), each proved to read the current value of a secret or an
 * SSM SecureString parameter in exactly one call.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsCallCounter, describeAwsRequest, startAwsCallCounter } from '../helpers/aws-call-counter.js';
import { awsCli, CONSUMERS } from '../helpers/aws-consumers.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';

let moto: Moto;
let counter: AwsCallCounter;
let sdk: SecretsManagerClient;
beforeAll(async () => {
  moto = await startMoto();
  counter = await startAwsCallCounter(moto.endpoint);
  sdk = new SecretsManagerClient({
    endpoint: counter.endpoint,
    region: MOTO_ENV.AWS_REGION,
    credentials: {
      accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID,
      secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY,
      sessionToken: MOTO_ENV.AWS_SESSION_TOKEN,
    },
    // One attempt: a retry would be a second request and change the counts under test.
    maxAttempts: 1,
  });
}, 60_000);
afterAll(async () => {
  sdk?.destroy();
  await counter?.stop();
  await moto?.stop();
});
beforeEach(() => counter.reset());

describe('AwsCallCounter', () => {
  it('counts each SDK call by service and operation, and forwards it so the answer is the real one', async () => {
    const name = `counter/${randomUUID()}`;

    await sdk.send(new CreateSecretCommand({ Name: name, SecretString: 'first' }));
    await sdk.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'second' }));
    const read = await sdk.send(new GetSecretValueCommand({ SecretId: name }));
    await sdk.send(new GetSecretValueCommand({ SecretId: name }));
    await sdk.send(new ListSecretsCommand({}));

    expect(read.SecretString).toBe('second');
    expect(counter.counts()).toEqual({
      'secretsmanager.CreateSecret': 1,
      'secretsmanager.PutSecretValue': 1,
      'secretsmanager.GetSecretValue': 2,
      'secretsmanager.ListSecrets': 1,
    });
  });

  it('attributes each JSON-protocol call to the secret it names, and a listing to none', async () => {
    const name = `counter/${randomUUID()}`;

    await sdk.send(new CreateSecretCommand({ Name: name, SecretString: 'value' }));
    await sdk.send(new ListSecretsCommand({}));

    expect(counter.calls()).toEqual([
      { service: 'secretsmanager', operation: 'CreateSecret', resource: name, accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID },
      { service: 'secretsmanager', operation: 'ListSecrets', accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID },
    ]);
  });

  it('counts a failed call too, since AWS bills it', async () => {
    await expect(sdk.send(new GetSecretValueCommand({ SecretId: `counter/${randomUUID()}` }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });

    expect(counter.counts()).toEqual({ 'secretsmanager.GetSecretValue': 1 });
  });

  it('names a form-encoded query-protocol call by its Action (STS through the AWS CLI)', async () => {
    const { json } = await awsCli(['sts', 'get-caller-identity'], { endpoint: counter.endpoint });

    expect(json).toMatchObject({ Account: expect.any(String) });
    expect(counter.counts()).toEqual({ 'sts.GetCallerIdentity': 1 });
  });

  it('forgets every call on reset', async () => {
    await sdk.send(new ListSecretsCommand({}));
    expect(counter.counts()).toEqual({ 'secretsmanager.ListSecrets': 1 });

    counter.reset();

    expect(counter.counts()).toEqual({});
    expect(counter.calls()).toEqual([]);
  });

  it('names a request and its access key from its signature scope, target, query or form body', () => {
    const scope = (service: string) => `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/${service}/aws4_request, x`;

    expect(
      describeAwsRequest(
        'POST',
        '/',
        { 'x-amz-target': 'AmazonSSM.GetParameter', authorization: scope('ssm') },
        '{"Name":"/p","WithDecryption":true}',
      ),
    ).toEqual({ service: 'ssm', operation: 'GetParameter', resource: '/p', accessKeyId: 'AKID' });
    expect(
      describeAwsRequest(
        'POST',
        '/',
        { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', authorization: scope('sts') },
        'Action=AssumeRole&Version=2011-06-15',
      ),
    ).toEqual({ service: 'sts', operation: 'AssumeRole', accessKeyId: 'AKID' });
    expect(
      describeAwsRequest(
        'POST',
        '/',
        { 'x-amz-target': 'secretsmanager.BatchGetSecretValue', authorization: scope('secretsmanager') },
        '{"SecretIdList":["a/tokens/x","a/state/x"]}',
      ),
    ).toEqual({
      service: 'secretsmanager',
      operation: 'BatchGetSecretValue',
      resource: 'a/tokens/x,a/state/x',
      accessKeyId: 'AKID',
    });
    expect(describeAwsRequest('GET', '/?Action=ListUsers&Version=2010-05-08', {}, '')).toEqual({
      service: 'unknown',
      operation: 'ListUsers',
    });
    expect(describeAwsRequest('GET', '/bucket/key', { authorization: scope('s3') }, '')).toEqual({
      service: 's3',
      operation: 'GET /bucket/key',
      accessKeyId: 'AKID',
    });
  });
});

describe('AWS consumers (AWS CLI v1 and boto3)', () => {
  const secretName = `consumers/${randomUUID()}/tokens/generic`;
  const parameterName = `/consumers/${randomUUID()}/tokens/klikoo`;
  // Two versions each: the consumers must read the current one, not the first.
  const secretValue = JSON.stringify({ access_token: `consumer-test-${randomUUID()}`, note: 'ünïcode\tand tab' });
  const parameterValue = JSON.stringify({ access_token: `consumer-test-${randomUUID()}`, token_type: 'Bearer' });

  beforeAll(async () => {
    const direct = { endpoint: moto.endpoint };
    await awsCli(['secretsmanager', 'create-secret', '--name', secretName, '--secret-string', 'stale'], direct);
    await awsCli(
      ['secretsmanager', 'put-secret-value', '--secret-id', secretName, '--secret-string', secretValue],
      direct,
    );
    const put = ['ssm', 'put-parameter', '--name', parameterName, '--type', 'SecureString'];
    await awsCli([...put, '--value', 'stale'], direct);
    await awsCli([...put, '--value', parameterValue, '--overwrite'], direct);
  }, 60_000);

  for (const consumer of CONSUMERS) {
    const [name, expected, operation] =
      consumer.reads === 'secret'
        ? [secretName, () => secretValue, 'secretsmanager.GetSecretValue']
        : [parameterName, () => parameterValue, 'ssm.GetParameter'];

    it(`${consumer.name} reads the current value of a ${consumer.reads} in one ${operation} call`, async () => {
      const read = await consumer.read(name, { endpoint: counter.endpoint });

      expect(read.value).toBe(expected());
      expect(read.durationMs).toBeGreaterThan(0);
      expect(counter.counts()).toEqual({ [operation]: 1 });
    });

    it(`${consumer.name} fails on a missing ${consumer.reads} with the consumer's own error`, async () => {
      const missing = consumer.reads === 'secret' ? `consumers/${randomUUID()}` : `/consumers/${randomUUID()}`;

      await expect(consumer.read(missing, { endpoint: counter.endpoint })).rejects.toThrow(
        consumer.reads === 'secret' ? /ResourceNotFoundException/ : /ParameterNotFound/,
      );
    });
  }
});
