/**
 * The heartbeat's warning when the store refuses its write: `err` in the project's error
 * shape `{ class, code, message }` (not pino's `{"type":"Object","stack":""}`), never a token.
 */
import { describe, expect, it } from 'vitest';
import { recordHeartbeat } from '../../src/engine/heartbeat.js';
import { HEARTBEAT_PATH, type Heartbeat } from '../../src/engine/records.js';
import { StoreError } from '../../src/errors.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { MemoryStore } from '../helpers/memory-store.js';

const beat: Heartbeat = {
  last_pass_at: '2026-03-01T00:00:00.000Z',
  last_pass_ok: true,
  holder: 'host:1:abcd',
  duration_ms: 42,
};

/** A store whose every write throws `error`. */
class RefusingStore extends MemoryStore {
  constructor(readonly error: unknown) {
    super();
  }
  override async write(): Promise<string> {
    throw this.error;
  }
}

describe('recordHeartbeat', () => {
  describe('when the store write throws', () => {
    it('logs the StoreError as { class, code, message } and returns false', async () => {
      const { logger, lines } = captureLogs();
      const store = new RefusingStore(
        new StoreError('could not write record runner/heartbeat: Vault answered HTTP 503'),
      );

      const written = await recordHeartbeat(store, beat, logger);

      expect(written).toBe(false);
      const warning = lines().find((line) => line['msg'] === 'could not record the heartbeat');
      expect(warning).toMatchObject({
        level: 40,
        path: HEARTBEAT_PATH,
        err: {
          class: 'store',
          code: 'STORE_UNAVAILABLE',
          message: 'could not write record runner/heartbeat: Vault answered HTTP 503',
        },
      });
      expect(Object.keys(warning?.['err'] ?? {}).sort()).toEqual(['class', 'code', 'message']);
    });

    it('logs a foreign error as a StoreError of the heartbeat record, never its other properties', async () => {
      const { logger, lines, text } = captureLogs();
      const foreign = Object.assign(new TypeError('socket hang up'), { response: { access_token: 'tok-secret-123' } });

      await recordHeartbeat(new RefusingStore(foreign), beat, logger);

      expect(lines().find((line) => line['msg'] === 'could not record the heartbeat')?.['err']).toEqual({
        class: 'store',
        code: 'STORE_UNAVAILABLE',
        message: `writing ${HEARTBEAT_PATH} failed after 1 attempts`,
      });
      expect(text()).not.toContain('tok-secret-123');
    });
  });
});
