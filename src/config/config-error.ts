/** A setting is missing, malformed or contradicts another; the message names it, never a secret's value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
