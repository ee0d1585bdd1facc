#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * The `tandem` command (CONTRACT.md):
 * - `tandem start [--config FILE]`: run the gateway. FILE defaults to `$TANDEM_CONFIG`, else
 *   `config/tandem.yaml`. An invalid config prints every problem with its path and exits 2 before anything
 *   listens. SIGTERM/SIGINT drain and stop (`shutdown.drainMs`).
 * - `tandem validate FILE`: the same checks without listening; exit 0 (valid) or 2 (invalid).
 *
 * The shebang passes Tandem's V8 flags (src/node-flags.ts; keep the two in step).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import closeWithGrace from 'close-with-grace';
import { ConfigError, type TandemError } from './errors.ts';
import { Gateway } from './gateway/gateway.ts';
import { createLogger } from './gateway/logger.ts';
import { loadConfigFile } from './routes/config-load.ts';
import type { ValidatedConfig } from './routes/config-validate.ts';

const USAGE = `Usage:
  tandem start [--config FILE]   run the gateway (FILE: $TANDEM_CONFIG, else config/tandem.yaml)
  tandem validate FILE           check a config file; exit 0 when valid, 2 when not
  tandem --version | --help`;

/** Exit status of an invalid config. */
export const EXIT_INVALID_CONFIG = 2;

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
  });
  if (values.version === true) {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`tandem ${pkg.version}\n`);
    return 0;
  }
  const [command, file] = positionals;
  if (values.help === true || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && values.help !== true ? 1 : 0;
  }
  if (command === 'validate') {
    const target = file ?? values.config;
    if (target === undefined) {
      process.stderr.write(`tandem validate: missing FILE\n${USAGE}\n`);
      return 1;
    }
    const result = await load(target);
    if (result === undefined) return EXIT_INVALID_CONFIG;
    process.stdout.write(`${target}: valid (${result.config.routes.length} routes, ${result.config.upstreams.length} upstreams, ${result.config.listeners.length} listeners)\n`);
    return 0;
  }
  if (command === 'start') return start(values.config ?? process.env['TANDEM_CONFIG'] ?? 'config/tandem.yaml');
  process.stderr.write(`tandem: unknown command "${command}"\n${USAGE}\n`);
  return 1;
}

/** Loads a config, printing every problem (and warning) to stderr; `undefined` when invalid. */
async function load(file: string): Promise<(ValidatedConfig & { document: Record<string, unknown> }) | undefined> {
  try {
    const result = await loadConfigFile(file);
    for (const w of result.warnings) process.stderr.write(`${file}: warning: ${w.path}: ${w.message}\n`);
    return result;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${file}: ${err.message}\n`);
    for (const d of err.details) process.stderr.write(`  ${d.path}: ${d.message}\n`);
    return undefined;
  }
}

async function start(file: string): Promise<number> {
  const loaded = await load(file);
  if (loaded === undefined) return EXIT_INVALID_CONFIG;
  const { config, document } = loaded;
  const log = createLogger(config.log.level);
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(config, log, { document, file });
  } catch (err) {
    log.fatal({ code: (err as TandemError).code, err: (err as Error).message }, 'could not start');
    log.flush();
    return 1;
  }
  log.info({ component: 'gateway', config: file, routes: config.routes.length }, 'tandem started');
  // SIGHUP and edits of the file take the same path as admin writes; a bad file changes nothing.
  process.on('SIGHUP', () => {
    log.info({ component: 'config', signal: 'SIGHUP' }, 'reloading the config file');
    void gateway.configManager?.reloadFromFile('signal');
  });
  if (process.env['TANDEM_WATCH_CONFIG'] !== '0') gateway.configManager?.watch();
  closeWithGrace({ delay: config.shutdown.drainMs + 5000, logger: false, skip: ['SIGHUP'] }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'stopping after an uncaught error');
    else log.info({ component: 'gateway', signal }, 'stopping');
    await gateway.stop(config.shutdown.drainMs);
    log.flush();
  });
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tandem: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
