/**
 * Tandem as a library: start a gateway from a config document, and the pieces it is made of.
 * The state machine engine and supervisors are also published on their own as `tandem/fsm`.
 *
 * @example
 * ```ts
 * import { Gateway, createLogger, validateConfig } from 'tandem';
 * const { config } = validateConfig({ upstreams: [{ name: 'app', targets: [{ url: 'http://127.0.0.1:9001' }] }],
 *   routes: [{ name: 'app', match: { pathPrefix: '/' }, upstream: 'app' }] });
 * const gateway = await Gateway.start(config, createLogger('info'));
 * ```
 * @module
 */
export { ALL_ERROR_CODES, ConfigError, ERROR_CODES, type ErrorCode, type ErrorDetail, isTandemError, TandemError, UpstreamError } from './errors.ts';
export { Gateway } from './gateway/gateway.ts';
export { createLogger, logDestination, type Logger } from './gateway/logger.ts';
export type { Config, Listener, Route, Target, Upstream } from './routes/config.ts';
export { loadConfigFile, parseConfigText, substituteEnv } from './routes/config-load.ts';
export { validateConfig, type ValidatedConfig } from './routes/config-validate.ts';
export { ConfigSchema } from './routes/schema.ts';
export * as fsm from './fsm/index.ts';
