/**
 * Writes docs/errors.md from the error registry (`npm run docs:errors`); test/errors.test.ts checks that
 * the file and the registry agree.
 */
import { writeFileSync } from 'node:fs';
import { ALL_ERROR_CODES } from '../src/errors.ts';

const rows = Object.entries(ALL_ERROR_CODES).map(([code, d]) => `| \`${code}\` | ${d.status} | ${d.description.replace(/\|/g, '\\|')} |`);
const text = `# Errors

Every error Tandem reports has a stable code. Clients of the data plane and the admin API get
\`{ "code", "message" }\` as JSON (plus \`details: [{ path, message }]\` for config problems) with the
status below; 503 answers carry \`Retry-After\`. Library callers get typed errors with \`code\`, \`status\`,
\`details\` and \`cause\`. Generated from \`src/errors.ts\` and \`src/fsm/errors.ts\` by
\`npm run docs:errors\`; a test keeps this table and the registry in step.

| Code | Status | When |
|---|---|---|
${rows.join('\n')}
`;
writeFileSync(new URL('../docs/errors.md', import.meta.url), text);
