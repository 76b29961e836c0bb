#!/usr/bin/env node
// The `tessera` executable: everything lives in main.ts so tests can call it in-process.
import { main } from './main.js'

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  },
)
