/**
 * `token-rotator prune` as users run it: on a store with nothing left behind it says so
 * and exits 0; on AWS (moto) it lists the 0.1 public ring it would remove once a pass
 * has published the record under its new name, and removes it.
 */
import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AwsStore, createAwsStore } from '../../src/stores/aws/index.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';
import { type Scenario, startScenario } from '../helpers/scenario.js';

describe('token-rotator prune', () => {
  it('says the file store keeps nothing to prune, and exits 0', async () => {
    const scenario = await startScenario();
    try {
      const result = await scenario.cli(['prune']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe('the file store keeps nothing an earlier release left behind\n');
    } finally {
      await scenario.close();
    }
  });

  describe('on AWS (moto)', () => {
    let moto: Moto;
    let raw: SecretsManagerClient;
    let records: AwsStore;
    let scenario: Scenario;
    let prefix: string;
    beforeAll(async () => {
      moto = await startMoto();
      prefix = `prune-${randomUUID()}/`;
      for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
      const section = { kind: 'aws', prefix, region: 'us-east-1', endpoint: moto.endpoint, max_attempts: 3 } as const;
      records = createAwsStore(section);
      raw = new SecretsManagerClient({ endpoint: moto.endpoint, region: 'us-east-1' });
      scenario = await startScenario({ store: { section, records, env: MOTO_ENV } });
    }, 60_000);
    afterAll(async () => {
      await scenario?.close();
      await records?.close();
      raw?.destroy();
      await moto?.stop();
      vi.unstubAllEnvs();
    });

    it('lists a 0.1 public ring with --dry-run, then schedules it for deletion once the record has its new name', async () => {
      // What release 0.1 left for keliweb-api: a ring of two slots.
      const slots = [`${prefix}tokens/keliweb-api@0`, `${prefix}tokens/keliweb-api@1`];
      for (const [seq, name] of slots.entries()) {
        await raw.send(
          new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ ring: { seq, size: 2 }, record: {} }) }),
        );
      }
      const early = await scenario.cli(['prune', '--dry-run']);
      expect(early.code, early.stderr).toBe(0);
      expect(early.stdout).toContain(`kept ${slots[0]}: the record has no new name yet`);

      const pass = await scenario.cli(['run']);
      expect(pass.code, pass.stderr).toBe(0);

      const dry = await scenario.cli(['prune', '--dry-run']);
      expect(dry.stdout).toBe(`would remove ${slots[0]}\nwould remove ${slots[1]}\n2 would remove, 0 kept\n`);
      for (const name of slots)
        expect((await raw.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate).toBeUndefined();

      const done = await scenario.cli(['prune']);
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout).toBe(`removed ${slots[0]}\nremoved ${slots[1]}\n2 removed, 0 kept\n`);
      for (const name of slots) {
        expect((await raw.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate).toBeInstanceOf(Date);
      }
      await scenario.harvestTokens();
      expect(scenario.canary.leaks()).toEqual([]);
    });
  });
});
