#!/usr/bin/env node
'use strict';
// Entry point of the `imagetrust` command; the code is compiled into build/ by `npm run build`.
// The agent runs beside every workload for months: it asks V8 to favour memory over speed, so
// its heap grows to about 1.3x what it holds between collections instead of up to 4x (about
// 35 MB less RSS with 1,000 containers, bench/agent.bench.ts). V8 reads this flag at every
// collection, so it can be set here; heap sizes (--max-semi-space-size) cannot, and stay on the
// node command line (scripts/run.sh, Dockerfile).
if (process.argv[2] === 'agent') require('node:v8').setFlagsFromString('--optimize-for-size');
require('../build/pkg/cli/main.js').main();
