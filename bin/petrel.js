#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled TypeScript output.
import '../dist/src/cli/main.js';
