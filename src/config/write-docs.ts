/** Writes docs/config.md from the schema: `node dist/src/config/write-docs.js`. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigDocs } from './docs.js';
import { packageInfo } from './package.js';

const target = join(packageInfo().root, 'docs', 'config.md');
writeFileSync(target, renderConfigDocs());
process.stdout.write(`wrote ${target}\n`);
