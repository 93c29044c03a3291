/**
 * The IAM policies in deploy/aws/ against the calls the AWS store really makes: a full
 * rotation's worth of calls is recorded from the store and each is checked against the
 * policy's Allow statements (actions and resource ARNs with IAM wildcards; conditions are
 * checked for presence, not evaluated: only AWS can evaluate them).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AwsSecretsStore } from '../../src/stores/aws/index.js';
import { FakeSecretsManager } from '../helpers/fake-secrets-manager.js';

interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string>>;
}

const policy = (name: string) =>
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../deploy/aws', name), 'utf8')) as {
    Statement: Statement[];
  };
const list = (value: string | string[]) => (Array.isArray(value) ? value : [value]);
/** IAM's wildcard match: `*` any run of characters, `?` one character. */
const matches = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  ).test(value);

function allowing(document: { Statement: Statement[] }, action: string, resource: string): Statement | undefined {
  return document.Statement.find(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Action).some((a) => matches(a, action)) &&
      list(s.Resource).some((r) => matches(r, resource)),
  );
}

const ARN = 'arn:aws:secretsmanager:eu-south-1:123456789012:secret:';
/** The ARN of a secret: its name and the six random characters AWS appends. */
const arnOf = (name: string) => `${ARN}${name}-AbCdEf`;

describe('deploy/aws IAM policies', () => {
  const rotator = policy('rotator-policy.json');
  const consumer = policy('consumer-policy.json');

  it('let the rotator make every call a rotation makes, on its own secrets only', async () => {
    const fake = new FakeSecretsManager();
    const calls: { action: string; secret: string | undefined }[] = [];
    const recorded = new Proxy(fake, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== 'function' || key === 'destroy') return value;
        return (input: { SecretId?: string; Name?: string }) => {
          calls.push({
            action: `secretsmanager:${String(key)[0]!.toUpperCase()}${String(key).slice(1)}`,
            secret: input.SecretId ?? input.Name,
          });
          return value.call(target, input);
        };
      },
    });
    const store = new AwsSecretsStore({ client: recorded, ringSize: 2 });
    let version = await store.write('state/klikoo', { n: 0 }, null);
    for (let n = 1; n < 4; n++) version = await store.write('state/klikoo', { n }, version);
    await store.read('state/klikoo');
    await store.list('tokens');
    // A record without a ring falls back to its single secret.
    await store.read('credentials/klikoo');
    const actions = new Set(calls.map((c) => c.action));

    expect([...actions].sort()).toEqual([
      'secretsmanager:CreateSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:ListSecrets',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
    for (const { action, secret } of calls) {
      const resource = secret === undefined ? '*' : arnOf(secret);
      expect(allowing(rotator, action, resource), `${action} on ${resource}`).toBeDefined();
    }
    for (const action of ['secretsmanager:DescribeSecret', 'secretsmanager:TagResource']) {
      expect(allowing(rotator, action, arnOf('token-rotator/state/klikoo@0'))).toBeDefined();
    }
    expect(allowing(rotator, 'secretsmanager:PutSecretValue', arnOf('another-app/db'))).toBeUndefined();
    expect(allowing(rotator, 'secretsmanager:DeleteSecret', arnOf('token-rotator/state/klikoo@0'))).toBeUndefined();
  });

  it('let the rotator create a secret only with its managed-by tag', () => {
    const create = allowing(rotator, 'secretsmanager:CreateSecret', arnOf('token-rotator/tokens/klikoo@0'));

    expect(create?.Condition).toEqual({ StringEquals: { 'aws:RequestTag/managed-by': 'token-rotator' } });
  });

  it('let the rotator and consumers use a KMS key only through Secrets Manager, for their own secrets', () => {
    const key = 'arn:aws:kms:eu-south-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    for (const [document, prefix] of [
      [rotator, 'token-rotator/*'],
      [consumer, 'token-rotator/tokens/*'],
    ] as const) {
      const decrypt = allowing(document, 'kms:Decrypt', key);
      expect(decrypt?.Condition?.['StringLike']).toEqual({
        'kms:ViaService': 'secretsmanager.*.amazonaws.com',
        'kms:EncryptionContext:SecretARN': `arn:aws:secretsmanager:*:*:secret:${prefix}`,
      });
    }
    expect(allowing(rotator, 'kms:GenerateDataKey', key)).toBeDefined();
    expect(allowing(consumer, 'kms:GenerateDataKey', key)).toBeUndefined();
  });

  it('let consumers read every slot of a public record, and nothing of the private state', () => {
    expect(allowing(consumer, 'secretsmanager:GetSecretValue', arnOf('token-rotator/tokens/klikoo@5'))).toBeDefined();
    expect(allowing(consumer, 'secretsmanager:GetSecretValue', arnOf('token-rotator/state/klikoo@0'))).toBeUndefined();
    expect(allowing(consumer, 'secretsmanager:PutSecretValue', arnOf('token-rotator/tokens/klikoo@0'))).toBeUndefined();
  });

  it('never grant a wildcard action', () => {
    for (const statement of [...rotator.Statement, ...consumer.Statement]) {
      for (const action of list(statement.Action)) expect(action, statement.Sid).not.toMatch(/\*/);
    }
  });
});
