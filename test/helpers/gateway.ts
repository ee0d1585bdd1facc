/**
 * Test helpers: a real Tandem gateway on 127.0.0.1 port 0 from a config document, with its log lines
 * captured; torn down by `stop()`.
 */
import { Writable } from 'node:stream';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { validateConfig } from '../../src/routes/config-validate.ts';

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface RunningGateway {
  readonly gateway: Gateway;
  /** `http://127.0.0.1:PORT` of the first listener. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` of the admin API, when the config has `admin`. */
  readonly adminUrl: string | undefined;
  readonly logs: LogLine[];
  stop(deadlineMs?: number): Promise<void>;
}

/**
 * Starts a gateway. `doc` is a config document; listeners default to one HTTP listener `web` on port 0.
 */
export async function startGateway(doc: Record<string, unknown>): Promise<RunningGateway> {
  const withListener = { listeners: [{ name: 'web', protocol: 'http', address: '127.0.0.1:0' }], ...doc };
  const { config } = validateConfig(withListener);
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const log = createLogger(config.log.level, sink);
  const gateway = await Gateway.start(config, log, { document: withListener });
  const addresses = gateway.addresses();
  const first = addresses[config.listeners[0]!.name]!;
  return {
    gateway,
    url: `http://127.0.0.1:${first.port}`,
    port: first.port,
    adminUrl: addresses['admin'] === undefined ? undefined : `http://127.0.0.1:${addresses['admin'].port}`,
    logs,
    stop: (deadlineMs = 1000) => gateway.stop(deadlineMs),
  };
}
