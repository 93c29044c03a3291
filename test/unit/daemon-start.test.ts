/**
 * The daemon's check at start: a config error stops it (the CLI exits 2), a store that
 * does not answer does not (it starts unready and retries each pass). The rotator is a
 * stand-in; the built daemon against a real OpenBao is proven in test/e2e/store-outage.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, StoreError } from '../../src/errors.js';
import { checkAtStart } from '../../src/runtimes/daemon.js';
import { captureLogs } from '../helpers/captured-logger.js';

describe('checkAtStart', () => {
  it('rethrows a ConfigError, so a wrong config still stops the daemon', async () => {
    const { logger } = captureLogs();
    const wrong = new ConfigError([
      { path: 'providers.a.client_secret', message: 'environment variable X is not set' },
    ]);

    await expect(checkAtStart({ check: () => Promise.reject(wrong) }, logger)).rejects.toBe(wrong);
  });

  it('logs a store that does not answer as a warning with its code, and lets the daemon start', async () => {
    const { logger, lines } = captureLogs();
    const outage = new StoreError('could not reach Vault for read of record credentials/api');

    await expect(checkAtStart({ check: () => Promise.reject(outage) }, logger)).resolves.toBeUndefined();

    expect(lines()).toEqual([
      expect.objectContaining({
        level: 40,
        err: expect.objectContaining({
          message: 'could not reach Vault for read of record credentials/api',
          code: 'STORE_UNAVAILABLE',
        }),
      }),
    ]);
  });
});
