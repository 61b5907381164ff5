import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/services.js';

/** Every `event: '...'` a log call in src/ or scripts/ writes. */
function loggedEvents(): string[] {
  const events = new Set<string>();
  for (const dir of ['src', 'scripts']) {
    for (const file of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts') || file.startsWith('generated')) continue;
      for (const [, name] of readFileSync(join(ROOT, dir, file), 'utf8').matchAll(/\bevent: '([a-z-]+)'/g)) events.add(name ?? '');
    }
  }
  return [...events].sort();
}

describe('log events', () => {
  it('docs/operations.md lists every event a log line carries, and no other', () => {
    const text = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    const table = text.slice(text.indexOf('### Events'));
    const documented = [...table.matchAll(/^\| `([a-z-]+)` \|/gm)].map(([, name]) => name ?? '').sort();
    assert.deepEqual(documented, loggedEvents());
  });
});
