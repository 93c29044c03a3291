import { describe, expect, it } from 'vitest';
import { fieldKit } from '../../src/common/fields.js';
import { indexByKind } from '../../src/common/registry.js';
import { parseConfig } from '../../src/config/load.js';
import { assertStoreFits, storeFitIssues } from '../../src/engine/budget.js';
import { ConfigError } from '../../src/errors.js';
import { PROVIDER_KINDS, providerSchema } from '../../src/providers/registry.js';
import { createRotator } from '../../src/rotator.js';
import { DEFAULT_STORE, planStore, STORE_KINDS, storeSchema } from '../../src/stores/registry.js';
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
      expect(PROVIDER_KINDS.map((kind) => kind.kind)).toEqual(['oauth2', 'keliweb', 'klikoo']);
      const kinds = providerSchema(fieldKit('raw')).options.map((option) => option.shape.kind.value);
      expect(kinds).toEqual(['oauth2', 'keliweb', 'klikoo']);
    });

    it('names the registered kinds when a provider or the store has another', async () => {
      const error = await parseConfig('store: { kind: s3 }\nproviders:\n  x: { kind: nope }\n', 'test.yaml', {}).catch(
        (e: unknown) => e,
      );

      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues).toEqual([
        { path: 'store.kind', message: "Invalid discriminator value. Expected 'file' | 'vault' | 'aws'" },
        { path: 'providers.x.kind', message: "Invalid discriminator value. Expected 'oauth2' | 'keliweb' | 'klikoo'" },
      ]);
    });
  });

  describe('stores', () => {
    it('lists every store kind once, and the config accepts exactly those kinds', () => {
      expect(STORE_KINDS.map((kind) => kind.kind)).toEqual(['file', 'vault', 'aws']);
      expect(storeSchema(fieldKit('raw')).options.map((option) => option.shape.kind.value)).toEqual([
        'file',
        'vault',
        'aws',
      ]);
    });

    it('defaults to the embedded file store', () => {
      expect(DEFAULT_STORE).toEqual({ kind: 'file', directory: '.token-rotator' });
    });

    it('lets a kind without a schedule hook pass through planning untouched, without computing the schedule', () => {
      const planned = planStore(DEFAULT_STORE, {
        passesPerDay: () => {
          throw new Error('not needed');
        },
      });

      expect(planned).toEqual({ config: DEFAULT_STORE, issues: [] });
    });

    it("sizes the AWS ring through the kind's own hook", () => {
      const planned = planStore({ kind: 'aws', prefix: 'tr/', max_attempts: 3 }, { passesPerDay: () => 288 });

      expect(planned).toEqual({ config: expect.objectContaining({ ring_size: 6 }), issues: [] });
    });
  });
});

describe('the engine and the store it is given', () => {
  it('refuses a store that cannot compare-and-set', () => {
    expect(storeFitIssues('nfs', { compareAndSet: false }, () => 288)).toEqual([
      { path: 'store.kind', message: "the nfs store cannot compare-and-set, which the engine's lease needs" },
    ]);
  });

  it('refuses a schedule that would take more writes per record than the store allows', () => {
    const issues = storeFitIssues(
      'aws',
      { compareAndSet: true, writeBudget: { writes: 96, windowSeconds: DAY } },
      () => 288,
    );

    expect(issues).toEqual([
      {
        path: 'policy.schedule',
        message: '288 passes in 86400 s write a record up to 576 times; the aws store takes at most 96',
      },
    ]);
  });

  it('accepts a schedule within the budget, counting passes in the budget window', () => {
    // 48 passes a day, 2 writes each: 96 a day fits 96; over an hour, 2 passes and 4 writes fit 4.
    expect(
      storeFitIssues('aws', { compareAndSet: true, writeBudget: { writes: 96, windowSeconds: DAY } }, () => 48),
    ).toEqual([]);
    expect(
      storeFitIssues('x', { compareAndSet: true, writeBudget: { writes: 4, windowSeconds: 3600 } }, () => 48),
    ).toEqual([]);
    expect(
      storeFitIssues('x', { compareAndSet: true, writeBudget: { writes: 3, windowSeconds: 3600 } }, () => 48),
    ).toHaveLength(1);
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

    expect(() => createRotator(loaded, { store })).toThrow(ConfigError);
    expect(store.writes).toBe(0);
    expect(createRotator(loaded, { store: new MemoryStore() }).gapSeconds).toBe(300);
  });
});
