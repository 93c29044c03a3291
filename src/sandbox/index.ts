/**
 * The provider sandbox: a real HTTP server speaking the Keliweb, Klikoo and generic
 * OAuth 2.0 token protocols strictly, with fault injection, for integration tests and
 * the CLI's demo. Never exposed beyond 127.0.0.1.
 *
 * @example
 * import { createDemoClients, startSandbox } from './sandbox/index.js';
 * const { clients, secrets } = await createDemoClients();
 * const sandbox = await startSandbox({ clients });
 * const response = await fetch(sandbox.tokenUrl('oauth2'), {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ grant_type: 'client_credentials', client_id: secrets.oauth2.clientId, client_secret: secrets.oauth2.clientSecret }),
 * });
 * await sandbox.close();
 */

export { MAX_BODY_BYTES } from './body.js';
export type { DemoKlikooCredentials, DemoPasswordCredentials, DemoSecrets } from './demo.js';
export { createDemoClients } from './demo.js';
export { MAX_FAULT_LATENCY_MS, validateFault } from './faults.js';
export { KLIKOO_TIMESTAMP_SKEW_SECONDS, parseKlikooTimestamp } from './klikoo.js';
export { DEFAULT_LIFETIMES, MAX_RECORDED_REQUESTS, startSandbox } from './server.js';
export type {
  Fault,
  FaultScope,
  FaultType,
  IntrospectionResult,
  RecordedRequest,
  Sandbox,
  SandboxClient,
  SandboxLifetime,
  SandboxOptions,
  SandboxStats,
  SandboxTarget,
} from './types.js';
export { isSandboxTarget, SANDBOX_TARGETS } from './types.js';
