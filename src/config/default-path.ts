/** The default config path, unless `--config` or `TOKEN_ROTATOR_CONFIG` names another. */
export const DEFAULT_CONFIG_PATH = 'token-rotator.yaml';
