/**
 * `token-rotator prune` on the AWS store, against a real moto_server through the real
 * SDK: the rings release 0.1 left behind go only once the records they held exist in the
 * new layout, a public ring is scheduled for deletion (restorable) rather than destroyed,
 * and a state ring loses only the slots beyond the size its latest write recorded.
 */
import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AwsStore, createAwsStore, LEGACY_RECOVERY_DAYS } from '../../src/stores/aws/index.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';

let moto: Moto;
let raw: SecretsManagerClient;
const opened: AwsStore[] = [];

beforeAll(async () => {
  for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
  moto = await startMoto();
  raw = new SecretsManagerClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
});

afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  raw?.destroy();
  await moto?.stop();
  vi.unstubAllEnvs();
});

function newStore(): AwsStore {
  const store = createAwsStore({
    kind: 'aws',
    prefix: `prune-${randomUUID()}/`,
    region: 'us-east-1',
    endpoint: moto.endpoint,
    max_attempts: 2,
  });
  opened.push(store);
  return store;
}

/** Writes a 0.1 ring of `size` slots holding writes 0 … size-1, as release 0.1 laid them out. */
async function legacyRing(store: AwsStore, path: string, size: number): Promise<string[]> {
  const names: string[] = [];
  for (let seq = 0; seq < size; seq++) {
    const name = `${store.secretName(path)}@${seq}`;
    await raw.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify({ ring: { seq, size }, record: { seq } }),
        Tags: [
          { Key: 'managed-by', Value: 'token-rotator' },
          { Key: 'ring-slot', Value: String(seq) },
        ],
      }),
    );
    names.push(name);
  }
  return names;
}

async function deletionDate(name: string): Promise<Date | undefined> {
  return (await raw.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate;
}

describe('AwsStore.prune against moto', () => {
  it('keeps a public ring until its record has a new name, then schedules its slots for deletion', async () => {
    const store = newStore();
    const slots = await legacyRing(store, 'tokens/keliweb', 6);

    const before = await store.prune({ dryRun: false });
    expect(before.removed).toEqual([]);
    expect(before.kept.map((entry) => entry.name).sort()).toEqual([...slots].sort());
    expect(before.kept[0]?.reason).toContain('no new name yet');
    for (const name of slots) expect(await deletionDate(name)).toBeUndefined();

    // A pass publishes the record under its new name (a secret for an hour-long token).
    await store.write('tokens/keliweb', { seq: 6 }, null, { usage: { writesPerDay: 46 } });

    const dry = await store.prune({ dryRun: true });
    expect([...dry.removed].sort()).toEqual([...slots].sort());
    for (const name of slots) expect(await deletionDate(name)).toBeUndefined();

    const done = await store.prune({ dryRun: false });
    expect([...done.removed].sort()).toEqual([...slots].sort());
    for (const name of slots) {
      const deleted = await deletionDate(name);
      expect(deleted, name).toBeInstanceOf(Date);
    }
    expect(LEGACY_RECOVERY_DAYS).toBeGreaterThanOrEqual(7);
    // The record itself is untouched and still read in one place.
    expect((await store.read('tokens/keliweb', { writesPerDay: 46 }))?.value).toEqual({ seq: 6 });
  });

  it('counts a public record moved to a parameter as moved, and the heartbeat ring once its parameter exists', async () => {
    const store = newStore();
    const tokens = await legacyRing(store, 'tokens/klikoo', 3);
    const heartbeat = await legacyRing(store, 'runner/heartbeat', 2);
    await store.write('tokens/klikoo', { seq: 3 }, null, { usage: { writesPerDay: 233 } });

    const first = await store.prune({ dryRun: false });
    expect([...first.removed].sort()).toEqual([...tokens].sort());
    expect(first.kept.map((entry) => entry.name).sort()).toEqual([...heartbeat].sort());

    await store.write('runner/heartbeat', { last_pass_at: new Date().toISOString() }, null);
    const second = await store.prune({ dryRun: false });
    expect([...second.removed].sort()).toEqual([...heartbeat].sort());
  });

  it('removes only the slots of a state ring beyond the size its latest write recorded, and the ring reads the same', async () => {
    const store = newStore();
    const slots = await legacyRing(store, 'state/keliweb', 6);
    const read = await store.read('state/keliweb');
    expect(read?.value).toEqual({ seq: 5 });
    // The next write (slot 0 of the 0.1 ring of 6) records the size an hour-long token needs: 1.
    await store.write('state/keliweb', { seq: 6 }, read?.version ?? null, { usage: { writesPerDay: 92 } });

    const report = await store.prune({ dryRun: false });

    expect([...report.removed].sort()).toEqual(slots.slice(1).sort());
    expect(report.kept).toEqual([]);
    const after = await store.read('state/keliweb');
    expect(after?.value).toEqual({ seq: 6 });
    // The ring keeps working in its one remaining secret.
    await store.write('state/keliweb', { seq: 7 }, after?.version ?? null, { usage: { writesPerDay: 92 } });
    expect((await store.read('state/keliweb'))?.value).toEqual({ seq: 7 });
    expect(await store.list('state')).toEqual(['state/keliweb']);
  });
});
