import { describe, expect, it } from 'vitest';
import { fieldKit } from '../../src/common/fields.js';
import { indexByKind } from '../../src/common/registry.js';
import { parseConfig } from '../../src/config/load.js';
import { assertStoreFits, storeFitIssues } from '../../src/engine/budget.js';
import { ConfigError } from '../../src/errors.js';
import { PROVIDER_KINDS, providerSchema } from '../../src/providers/registry.js';
import { createRotator } from '../../src/rotator.js';
import { AwsStore } from '../../src/stores/aws/index.js';
import type { RecordUsage } from '../../src/stores/contract.js';
import { DEFAULT_STORE, STORE_KINDS, storeSchema } from '../../src/stores/registry.js';
import { FakeParameterStore, FakeSecretsManager } from '../helpers/fake-secrets-manager.js';
import { MemoryStore } from '../helpers/memory-store.js';

const DAY = 86_400;

describe('the registries', () => {
  describe('indexByKind', () => {
    it('refuses a kind registered twice', () => {
      expect(() => indexByKind('store', [{ kind: 'file' }, { kind: 'vault' }, { kind: 'file' }])).toThrow(
        'store kind "file" is registered twice',
      );
    });

    it('indexes each definition by its kind', () => {
      const a = { kind: 'a' };
      const b = { kind: 'b' };

      expect([...indexByKind('provider', [a, b]).entries()]).toEqual([
        ['a', a],
        ['b', b],
      ]);
    });
  });

  describe('providers', () => {
    it('lists every provider kind once, and the config accepts exactly those kinds', () => {
      expect(PROVIDER_KINDS.map((kind) => kind.kind)).toEqual(['oauth2', 'keliweb', 'klikoo', 'http']);
      const kinds = providerSchema(fieldKit('raw')).def.options.map((option) => option.shape.kind.def.values[0]);
      expect(kinds).toEqual(['oauth2', 'keliweb', 'klikoo', 'http']);
    });

    it('names the registered kinds when a provider or the store has another', async () => {
      const error = await parseConfig('store: { kind: s3 }\nproviders:\n  x: { kind: nope }\n', 'test.yaml', {}).catch(
        (e: unknown) => e,
      );

      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues).toEqual([
        {
          path: 'store.kind',
          message: "Invalid discriminator value. Expected 'file' | 'vault' | 'aws' | 'kubernetes'",
        },
        {
          path: 'providers.x.kind',
          message: "Invalid discriminator value. Expected 'oauth2' | 'keliweb' | 'klikoo' | 'http'",
        },
      ]);
    });
  });

  describe('stores', () => {
    it('lists every store kind once, and the config accepts exactly those kinds', () => {
      expect(STORE_KINDS.map((kind) => kind.kind)).toEqual(['file', 'vault', 'aws', 'kubernetes']);
      expect(storeSchema(fieldKit('raw')).def.options.map((option) => option.shape.kind.def.values[0])).toEqual([
        'file',
        'vault',
        'aws',
        'kubernetes',
      ]);
    });

    it('defaults to the embedded file store', () => {
      expect(DEFAULT_STORE).toEqual({ kind: 'file', directory: '.token-rotator' });
    });
  });
});

describe('the engine and the store it is given', () => {
  it('refuses a store that cannot compare-and-set', () => {
    expect(storeFitIssues('nfs', { compareAndSet: false }, () => 288)).toEqual([
      { path: 'store.kind', message: "the nfs store cannot compare-and-set, which the engine's lease needs" },
    ]);
  });

  it('refuses a schedule that would write the heartbeat more often than the store allows', () => {
    const issues = storeFitIssues(
      'aws',
      { compareAndSet: true, writeBudget: () => ({ writes: 96, windowSeconds: DAY }) },
      () => 288,
    );

    expect(issues).toEqual([
      {
        path: 'policy.schedule',
        message: '288 passes in 86400 s write the heartbeat 288 times; the aws store takes at most 96',
      },
    ]);
  });

  it('asks the budget of the heartbeat record, with one write per pass as its usage', () => {
    const asked: [string, RecordUsage | undefined][] = [];
    const writeBudget = (path: string, usage: RecordUsage | undefined) => {
      asked.push([path, usage]);
      return undefined;
    };

    expect(storeFitIssues('x', { compareAndSet: true, writeBudget }, () => 288)).toEqual([]);
    expect(asked).toEqual([['runner/heartbeat', { writesPerDay: 288 }]]);
  });

  it('accepts a schedule within the budget, counting passes in the budget window', () => {
    // 96 passes a day, one heartbeat each: 96 a day fits 96; over an hour, 4 passes fit 4 but not 3.
    const budget = (writes: number, windowSeconds: number) => ({
      compareAndSet: true,
      writeBudget: () => ({ writes, windowSeconds }),
    });
    expect(storeFitIssues('aws', budget(96, DAY), () => 96)).toEqual([]);
    expect(storeFitIssues('aws', budget(95, DAY), () => 96)).toHaveLength(1);
    expect(storeFitIssues('x', budget(4, 3600), () => 96)).toEqual([]);
    expect(storeFitIssues('x', budget(3, 3600), () => 96)).toHaveLength(1);
  });

  it('accepts the AWS store on any schedule: its heartbeat is a parameter, which has no version budget', () => {
    const store = new AwsStore({ client: new FakeSecretsManager(), parameters: new FakeParameterStore() });

    expect(storeFitIssues('aws', store.capabilities, () => 2880)).toEqual([]);
    expect(store.capabilities.writeBudget?.('runner/heartbeat', { writesPerDay: 2880 })).toBeUndefined();
  });

  it('does not compute the schedule for a store without a budget', () => {
    expect(() =>
      assertStoreFits('file', { compareAndSet: true }, () => {
        throw new Error('not needed');
      }),
    ).not.toThrow();
  });

  it('is checked when a rotator is built, before any store call', async () => {
    const loaded = await parseConfig(
      'providers:\n  billing:\n    kind: oauth2\n    token_url: https://auth.example.com/token\n    client_id: c\n    client_secret: ${env:S}\n',
      'test.yaml',
      { S: 's' },
    );
    const store = Object.assign(new MemoryStore(), { capabilities: { compareAndSet: false } });

    await expect(createRotator(loaded, { store })).rejects.toThrow(ConfigError);
    expect(store.writes).toBe(0);
    expect((await createRotator(loaded, { store: new MemoryStore() })).gapSeconds).toBe(300);
  });
});
