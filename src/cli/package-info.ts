// Reads petrel's own package.json, found by walking up from this module so it works both
// from src/ (tsx) and from the compiled dist/src/.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageInfo {
  name: string;
  version: string;
  description: string;
  root: string;
}

let cached: PackageInfo | undefined;

export function packageInfo(): PackageInfo {
  if (cached !== undefined) return cached;
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(directory, 'package.json');
    if (existsSync(candidate)) {
      const manifest = JSON.parse(readFileSync(candidate, 'utf8')) as Partial<PackageInfo>;
      if (manifest.name === 'petrel') {
        cached = {
          name: manifest.name,
          version: manifest.version ?? '0.0.0',
          description: manifest.description ?? '',
          root: directory,
        };
        return cached;
      }
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error('petrel package.json not found above ' + fileURLToPath(import.meta.url));
    directory = parent;
  }
}
