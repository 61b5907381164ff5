import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'express-pm2-cluster';

// Walk up instead of a fixed relative path: this file runs both from src/ (tsx) and from
// dist/src/ (compiled), which sit at different depths below the project root.
function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string };
      if (pkg.name === PACKAGE_NAME) return dir;
    }
    if (dirname(dir) === dir) throw new Error(`package.json of ${PACKAGE_NAME} not found above ${start}`);
  }
}

export const projectRoot = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};

export const packageInfo = Object.freeze({ name: pkg.name, version: pkg.version });
