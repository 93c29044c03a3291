/**
 * token-rotator's public API: the rotator, the reader, the stores, the errors and the
 * types. Nothing else is part of the contract; deep imports are not supported.
 */
export { createRotator, type Rotator, type RotatorOptions, type PassOptions, type ProviderStatus } from './rotator.js';
export { createTokenReader, type Token, type TokenReader, type TokenReaderOptions } from './reader.js';
export { loadConfig, parseConfig, DEFAULT_CONFIG_PATH, type LoadedConfig } from './config/load.js';
export { configJsonSchema, type Config, type ProviderConfig, type StoreConfig } from './config/schema.js';
export { createStore } from './stores/registry.js';
export type { SecretStore, StoredRecord, StoreCapabilities } from './stores/contract.js';
export type { TokenProvider, TokenSet } from './providers/contract.js';
export type { PassSummary } from './engine/pass.js';
export type { Outcome, OutcomeStatus } from './engine/rotate.js';
export { publicRecordSchema, stateRecordSchema, recordPaths, type PublicRecord, type StateRecord } from './engine/records.js';
export {
  ErrorCodes,
  RotatorError,
  ConfigError,
  StoreError,
  ConflictError,
  ProviderError,
  TokenUnavailableError,
  type ErrorCode,
  type FailureClass,
  type ConfigIssue,
} from './errors.js';
