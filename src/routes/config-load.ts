/**
 * Reading a config file: YAML or JSON (JSON is YAML), `${env:NAME}` substitution in every string
 * (`${env:NAME:-default}` gives a default; `$${` is a literal `${`), then {@link validateConfig}.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError, type ErrorDetail } from '../errors.ts';
import { validateConfig, type ValidatedConfig } from './config-validate.ts';

const ENV_REF = /\$(\$?)\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Parses YAML or JSON text into a plain document.
 *
 * @throws {ConfigError} `TANDEM_ERR_CONFIG_READ` with the parser's problems and their line:column.
 */
export function parseConfigText(text: string, source = 'config'): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const details: ErrorDetail[] = doc.errors.map((e) => ({
      path: e.linePos?.[0] ? `${source}:${e.linePos[0].line}:${e.linePos[0].col}` : source,
      message: (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, ''),
    }));
    throw new ConfigError('TANDEM_ERR_CONFIG_READ', `${source} is not valid YAML or JSON`, { details });
  }
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

/**
 * Replaces `${env:NAME}` in every string of a document (keys are left alone).
 *
 * @throws {ConfigError} `TANDEM_ERR_CONFIG_INVALID` listing every reference to an unset variable that has
 *   no default, with its path.
 */
export function substituteEnv(document: unknown, env: NodeJS.ProcessEnv): unknown {
  const problems: ErrorDetail[] = [];
  const walk = (value: unknown, path: string): unknown => {
    if (typeof value === 'string') {
      return value.replace(ENV_REF, (whole, escaped: string, name: string, fallback: string | undefined) => {
        if (escaped === '$') return whole.slice(1);
        const found = env[name];
        if (found !== undefined) return found;
        if (fallback !== undefined) return fallback;
        problems.push({ path: path === '' ? '(root)' : path, message: `environment variable ${name} is not set (write \${env:${name}:-default} for a default)` });
        return '';
      });
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}[${i}]`));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, path === '' ? k : `${path}.${k}`);
      return out;
    }
    return value;
  };
  const out = walk(document, '');
  if (problems.length > 0) {
    throw new ConfigError('TANDEM_ERR_CONFIG_INVALID', `invalid config: ${problems.length} unset environment variable(s)`, { details: problems });
  }
  return out;
}

/**
 * Reads, substitutes and validates a config file.
 *
 * @throws {ConfigError} `TANDEM_ERR_CONFIG_READ` (missing, unreadable, not YAML/JSON) or
 *   `TANDEM_ERR_CONFIG_INVALID` (every problem, with its path).
 */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<ValidatedConfig & { document: Record<string, unknown> }> {
  const document = await readConfigDocument(file);
  return { ...validateConfig(substituteEnv(document, env)), document };
}

/**
 * Reads and parses a config file into the document as written (no substitution, no validation).
 *
 * @throws {ConfigError} `TANDEM_ERR_CONFIG_READ`; `TANDEM_ERR_CONFIG_INVALID` when it is not a mapping.
 */
export async function readConfigDocument(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError('TANDEM_ERR_CONFIG_READ', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const document = parseConfigText(text, file) ?? {};
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError('TANDEM_ERR_CONFIG_INVALID', `${file}: the config must be a mapping`, { details: [{ path: '(root)', message: 'must be a mapping of sections' }] });
  }
  return document as Record<string, unknown>;
}
