#!/usr/bin/env node
// Writes docs/options.md from the built option schema (dist/): run `npm run docs:options` after a change
// to src/options/groups/ or src/cli/commands.ts. test/option-schema.test.ts fails while the copy is stale.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { optionsReference } from '../dist/cli/options-doc.js';

const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'options.md');
writeFileSync(file, optionsReference());
process.stdout.write(`wrote ${file}\n`);
