/** Thrown for any invalid setting; the message names the variable or key and why. */
export class ConfigError extends Error {}
