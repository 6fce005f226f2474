#!/usr/bin/env node
'use strict';
// Entry point of the `imagetrust` command; the code is compiled into build/ by `npm run build`.
require('../build/pkg/cli/main.js').main();
