/**
 * token-rotator's public API: the rotator, the reader, the stores, the errors and the
 * types. Nothing else is part of the contract; deep imports are not supported.
 */

export { DEFAULT_CONFIG_PATH, type LoadedConfig, loadConfig, parseConfig } from './config/load.js';
export { type Config, configJsonSchema, type ProviderConfig, type StoreConfig } from './config/schema.js';
export type { PassSummary } from './engine/pass.js';
export {
  HEARTBEAT_PATH,
  type Heartbeat,
  heartbeatSchema,
  type PublicRecord,
  publicRecordSchema,
  recordPaths,
  type StateRecord,
  stateRecordSchema,
} from './engine/records.js';
export type { Outcome, OutcomeStatus } from './engine/rotate.js';
export {
  ConfigError,
  type ConfigIssue,
  ConflictError,
  type ErrorCode,
  ErrorCodes,
  type FailureClass,
  ProviderError,
  RotatorError,
  StoreError,
  TokenUnavailableError,
} from './errors.js';
export type { TokenProvider, TokenSet, TokenTypeHint } from './providers/contract.js';
export { createTokenReader, type Token, type TokenReader, type TokenReaderOptions } from './reader.js';
export { createRotator, type PassOptions, type ProviderStatus, type Rotator, type RotatorOptions } from './rotator.js';
export type { SecretStore, StoreCapabilities, StoredRecord } from './stores/contract.js';
export { createStore } from './stores/registry.js';
