/**
 * Run after `prisma generate` (scripts/prisma-generate.sh). Prisma's Node client carries its
 * query compiler as a base64 string in an ES module (`…wasm-base64.mjs`, 2.3 MB for the small
 * build). Once imported, an ES module is never unloaded: its source and that string stay in the
 * heap of every API instance and of the worker, ≈ 5 MB of RSS each (docs/benchmarks.md). This
 * writes the WebAssembly binary once, as src/generated/ and dist/src/generated/
 * query-compiler.wasm, and points the generated client at the file: it is read, compiled, and
 * the bytes are garbage.
 *
 * Not inside src/generated/prisma: `prisma generate` deletes that folder and writes it anew, and
 * a running process (a test, or an instance PM2 restarts while `npm start` rebuilds) that loads
 * its compiler in that moment would find no file. For the same reason the file is replaced
 * atomically (written beside, then renamed).
 *
 * A Prisma upgrade that generates this part differently fails the build here, naming what was
 * expected, rather than silently keeping the string.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLASS_FILE = join(ROOT, 'src/generated/prisma/internal/class.ts');
// class.ts is src/generated/prisma/internal/class.ts (dist/src/generated/… once built): two levels up.
const WASM_DIRS = ['src/generated', 'dist/src/generated'];
const WASM_NAME = 'query-compiler.wasm';
const WASM_URL = `../../${WASM_NAME}`;

const BASE64_IMPORT = /const \{ wasm \} = await import\("(@prisma\/client\/runtime\/query_compiler_[\w.]+\.wasm-base64\.mjs)"\)\s*\n(\s*)return await decodeBase64AsWasm\(wasm\)/;

const source = readFileSync(CLASS_FILE, 'utf8');
const match = BASE64_IMPORT.exec(source);
if (!match?.[1]) {
  throw new Error(`${CLASS_FILE}: no "const { wasm } = await import(\\"@prisma/client/runtime/query_compiler_….wasm-base64.mjs\\")" followed by "return await decodeBase64AsWasm(wasm)"; Prisma's generated client changed, see scripts/prisma-compiler-file.ts`);
}
const [statement, specifier, indent = '    '] = match;

const { wasm } = (await import(specifier)) as { wasm: string };
const binary = Buffer.from(wasm, 'base64');
if (binary.subarray(0, 4).toString('latin1') !== '\0asm') throw new Error(`${specifier} did not decode to a WebAssembly module`);
// dist/ too: tsc does not copy it, and the built client reads it relative to itself.
for (const dir of WASM_DIRS) {
  mkdirSync(join(ROOT, dir), { recursive: true });
  const file = join(ROOT, dir, WASM_NAME);
  writeFileSync(`${file}.${process.pid}.tmp`, binary);
  renameSync(`${file}.${process.pid}.tmp`, file);
}

const replacement = [
  `// Patched by scripts/prisma-compiler-file.ts: read from ${WASM_NAME}, not kept as a base64 string.`,
  `${indent}const { readFile } = await import('node:fs/promises')`,
  `${indent}return new WebAssembly.Module(await readFile(new URL('${WASM_URL}', import.meta.url)))`,
].join('\n');
writeFileSync(CLASS_FILE, source.replace(statement, replacement));
console.log(`Prisma's query compiler: ${binary.length} bytes in ${WASM_DIRS.map((dir) => `${dir}/${WASM_NAME}`).join(' and ')}, loaded from the file`);
