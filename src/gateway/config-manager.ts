/**
 * The running config as a versioned document, and the one path every change takes — admin API, config
 * file watch, SIGHUP, later a cluster store: substitute `${env:…}`, validate the whole document, plan by
 * diff, apply under the supervisors ({@link Gateway.apply}), persist, audit. Changes are applied one at a
 * time, in arrival order. A document that fails validation changes nothing; a source that fails (an
 * unreadable file, a parse error) leaves the last known good config serving.
 *
 * The document kept and persisted is the one written (with its `${env:…}` references, never their
 * values); persistence is atomic (temporary file, fsync, rename), so a restart comes back with the last
 * applied config.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { isMap, parseDocument, stringify, type Document } from 'yaml';
import { ConfigError, TandemError } from '../errors.ts';
import { parseConfigText, substituteEnv } from '../routes/config-load.ts';
import type { Config } from '../routes/config.ts';
import { validateConfig, withoutRoute, withoutUpstream, withRoute, withUpstream } from '../routes/config-validate.ts';
import type { ConfigDocument, ConfigSource, WriteOptions, WriteResult } from './admin/config-source.ts';
import type { Gateway } from './gateway.ts';
import type { Logger } from './logger.ts';

/** Where a change came from, for metrics (`tandem_config_reloads_total{source}`). */
export type ChangeSource = 'admin' | 'file' | 'signal';

export interface ConfigManagerOptions {
  readonly gateway: Gateway;
  /** The running document, as read from the file (before substitution). */
  readonly document: ConfigDocument;
  /** The config file: persisted to and watched. Without it, changes live in memory only. */
  readonly file?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly log: Logger;
}

/** `"sha256-prefix"` of a document's JSON (documents keep their key order through persistence). */
export function etagOf(document: ConfigDocument): string {
  return `"${createHash('sha256').update(JSON.stringify(document)).digest('hex').slice(0, 32)}"`;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export class ConfigManager implements ConfigSource {
  readonly #gateway: Gateway;
  readonly #file: string | undefined;
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: Logger;
  #document: ConfigDocument;
  #etag: string;
  /** Serialises changes. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Hash of the text this manager last wrote, so the watcher ignores its own writes. */
  #lastWritten: string | undefined;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;

  constructor(options: ConfigManagerOptions) {
    this.#gateway = options.gateway;
    this.#file = options.file;
    this.#env = options.env ?? process.env;
    this.#log = options.log.child({ component: 'config' });
    this.#document = structuredClone(options.document);
    this.#etag = etagOf(this.#document);
  }

  /**
   * The running document. A literal `admin.token` is shown as {@link REDACTED}; writing the document
   * back with that value keeps the token (`${env:…}` references are shown as they are).
   */
  current(): { document: ConfigDocument; etag: string } {
    const document = structuredClone(this.#document);
    const admin = document['admin'] as Record<string, unknown> | undefined;
    if (admin !== undefined && typeof admin['token'] === 'string' && !admin['token'].includes('${env:') && admin['token'] !== '') admin['token'] = REDACTED;
    return { document, etag: this.#etag };
  }

  replace(document: ConfigDocument, options: WriteOptions): Promise<WriteResult> {
    return this.#serial(() => this.#write(() => structuredClone(document), options));
  }

  putRoute(name: string, route: Record<string, unknown>, options: WriteOptions): Promise<WriteResult & { created: boolean }> {
    return this.#putItem('routes', name, route, options);
  }

  deleteRoute(name: string, options: WriteOptions): Promise<WriteResult> {
    return this.#deleteItem('routes', name, options);
  }

  putUpstream(name: string, upstream: Record<string, unknown>, options: WriteOptions): Promise<WriteResult & { created: boolean }> {
    return this.#putItem('upstreams', name, upstream, options);
  }

  deleteUpstream(name: string, options: WriteOptions): Promise<WriteResult> {
    return this.#deleteItem('upstreams', name, options);
  }

  /**
   * Reads the config file again and applies it (SIGHUP, file watch). Never throws: a file that cannot
   * be read or fails validation is logged with every problem, and the running config stays.
   */
  reloadFromFile(source: 'file' | 'signal'): Promise<void> {
    return this.#serial(async () => {
      const file = this.#file;
      if (file === undefined) return;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        this.#failed(source, new ConfigError('TANDEM_ERR_CONFIG_READ', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`));
        return;
      }
      if (source === 'file' && hash(text) === this.#lastWritten) return; // our own write
      try {
        const document = parseConfigText(text, file);
        if (document === null || typeof document !== 'object' || Array.isArray(document)) throw new ConfigError('TANDEM_ERR_CONFIG_INVALID', `${file}: the config must be a mapping`);
        await this.#write(() => document as ConfigDocument, { actor: { source } }, false);
      } catch (err) {
        this.#failed(source, err);
      }
    });
  }

  /** Watches the config file (debounced 100 ms); each settled change goes through {@link reloadFromFile}. */
  watch(): void {
    const file = this.#file;
    if (file === undefined || this.#watcher !== undefined) return;
    // Watch the directory: editors and our own atomic writes replace the file (rename), which ends a
    // watch on the file itself.
    this.#watcher = watch(dirname(file), (_event, name) => {
      if (name !== null && name !== basename(file)) return;
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reloadFromFile('file'), 100);
    });
    this.#watcher.on('error', (err) => this.#log.warn({ err: err.message }, 'config file watch failed'));
  }

  close(): void {
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #putItem(section: 'routes' | 'upstreams', name: string, item: Record<string, unknown>, options: WriteOptions): Promise<WriteResult & { created: boolean }> {
    return this.#serial(async () => {
      if (item['name'] !== undefined && item['name'] !== name) {
        throw new ConfigError('TANDEM_ERR_CONFIG_INVALID', `the body names "${String(item['name'])}", the path "${name}"`, { details: [{ path: 'name', message: `must be "${name}" (the name in the path)` }] });
      }
      let created = false;
      const value = { ...item, name };
      const result = await this.#write(
        (doc) => {
          const list = Array.isArray(doc[section]) ? [...(doc[section] as Record<string, unknown>[])] : [];
          const at = list.findIndex((x) => x['name'] === name);
          created = at === -1;
          if (created) list.push(value);
          else list[at] = value;
          return { ...doc, [section]: list };
        },
        options,
        true,
        // One item changed: checked and planned in time proportional to the change (the rest is as it was).
        (config) => {
          const substituted = substituteEnv(value, this.#env);
          return section === 'routes' ? withRoute(config, substituted) : withUpstream(config, substituted);
        },
      );
      return { ...result, created };
    });
  }

  #deleteItem(section: 'routes' | 'upstreams', name: string, options: WriteOptions): Promise<WriteResult> {
    return this.#serial(() =>
      this.#write(
        (doc) => {
        const list = Array.isArray(doc[section]) ? (doc[section] as Record<string, unknown>[]) : [];
        if (!list.some((x) => x['name'] === name)) throw new TandemError('TANDEM_ERR_NOT_FOUND', `no ${section === 'routes' ? 'route' : 'upstream'} named "${name}"`);
        if (section === 'upstreams') {
          const users = ((doc['routes'] as Record<string, unknown>[] | undefined) ?? []).filter((r) => r['upstream'] === name).map((r) => String(r['name']));
          if (users.length > 0) {
            throw new ConfigError('TANDEM_ERR_CONFIG_REFERENCE', `upstream "${name}" is still used by route${users.length > 1 ? 's' : ''} ${users.map((u) => `"${u}"`).join(', ')}`, {
              details: users.map((u) => ({ path: `routes[name=${u}].upstream`, message: `uses upstream "${name}"` })),
            });
          }
        }
        return { ...doc, [section]: list.filter((x) => x['name'] !== name) };
        },
        options,
        true,
        (config) => (section === 'routes' ? withoutRoute(config, name) : withoutUpstream(config, name)),
      ),
    );
  }

  /** One change: edit → substitute → validate → plan → (apply → persist → audit). Runs serialised. */
  async #write(
    edit: (doc: ConfigDocument) => ConfigDocument,
    options: WriteOptions,
    checkEtag = true,
    incremental?: (config: Config) => Config,
  ): Promise<WriteResult> {
    const source = options.actor.source as ChangeSource;
    try {
      if (checkEtag && options.ifMatch !== undefined && options.ifMatch !== this.#etag && options.ifMatch !== '*') {
        throw new ConfigError('TANDEM_ERR_CONFIG_CONFLICT', `If-Match ${options.ifMatch} does not match the running config (ETag ${this.#etag})`);
      }
      // Edits build new objects and never change the running document in place.
      const document = restoreToken(edit(this.#document), this.#document);
      const config = incremental !== undefined ? incremental(this.#gateway.config) : validateConfig(substituteEnv(document, this.#env)).config;
      if (options.dryRun === true) return { etag: this.#etag, plan: this.#gateway.plan(config), applied: false };
      const plan = await this.#gateway.apply(config);
      const before = this.#document;
      this.#document = document;
      this.#etag = etagOf(document);
      if (source !== 'file' && source !== 'signal') await this.#persist(document);
      this.#gateway.metrics.configReload(source, 'success');
      if (this.#log.isLevelEnabled('info')) {
        this.#log.info(
          { audit: true, source, tokenId: options.actor.tokenId, remote: options.actor.remote, etag: this.#etag, plan, changed: !plan.empty, sections: changedSections(before, document) },
          plan.empty ? 'config unchanged' : 'config changed',
        );
      }
      return { etag: this.#etag, plan, applied: true };
    } catch (err) {
      if (options.dryRun !== true) this.#gateway.metrics.configReload(source, 'failure');
      throw err;
    }
  }

  #failed(source: 'file' | 'signal', err: unknown): void {
    this.#gateway.metrics.configReload(source, 'failure');
    const details = err instanceof TandemError ? err.details : [];
    this.#log.error(
      { source, code: (err as TandemError).code, problems: details.map((d) => `${d.path}: ${d.message}`) },
      `config reload rejected, the running config stays: ${(err as Error).message}`,
    );
  }

  async #persist(document: ConfigDocument): Promise<void> {
    const file = this.#file;
    if (file === undefined) return;
    const json = ['.json'].includes(extname(file).toLowerCase());
    const text = json ? `${JSON.stringify(document, null, 2)}\n` : await yamlKeepingComments(file, document);
    const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.#lastWritten = hash(text);
    try {
      await rename(temp, file);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }
}

/**
 * The YAML text of `document`, written over the file's current text section by section: top-level
 * sections the change did not touch keep their comments and layout; changed ones are rewritten.
 */
async function yamlKeepingComments(file: string, document: ConfigDocument): Promise<string> {
  let current: Document | undefined;
  try {
    current = parseDocument(await readFile(file, 'utf8'));
    if (current.errors.length > 0 || !isMap(current.contents)) current = undefined;
  } catch {
    current = undefined;
  }
  if (current === undefined) return stringify(document, { lineWidth: 0 });
  const before = current.toJS() as ConfigDocument;
  for (const key of Object.keys(before)) if (!(key in document)) current.delete(key);
  for (const [key, value] of Object.entries(document)) {
    if (canonical(before[key]) !== canonical(value)) current.set(key, current.createNode(value));
  }
  return current.toString({ lineWidth: 0 });
}

/** How `current()` shows a literal admin token. */
export const REDACTED = '[redacted]';

/** A document written back with the redacted token keeps the running token. */
function restoreToken(next: ConfigDocument, running: ConfigDocument): ConfigDocument {
  const admin = next['admin'] as Record<string, unknown> | undefined;
  if (admin?.['token'] !== REDACTED) return next;
  const token = (running['admin'] as Record<string, unknown> | undefined)?.['token'];
  return { ...next, admin: { ...admin, token } };
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Top-level sections that differ (for the audit line). */
function changedSections(a: ConfigDocument, b: ConfigDocument): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => canonical(a[k]) !== canonical(b[k]));
}
