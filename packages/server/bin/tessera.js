#!/usr/bin/env node
// The `tessera` executable. This launcher is committed while dist/ is built by `prepare`, after npm has
// linked the package's executables: npm links only files that exist, so a bin pointing into dist/ left
// `npx tessera` unresolved in a fresh checkout after `npm install`.
import '../dist/cli/bin.js'
