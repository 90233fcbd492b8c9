#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build` (run by `prepare` on install).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv);
