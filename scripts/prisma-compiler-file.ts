/**
 * Run after `prisma generate` (scripts/prisma-generate.sh). Prisma's Node client carries its
 * query compiler as a base64 string in an ES module (`…wasm-base64.mjs`, 2.3 MB for the small
 * build). Once imported, an ES module is never unloaded: its source and that string stay in the
 * heap of every API instance and of the worker, ≈ 5 MB of RSS each (docs/benchmarks.md). This
 * writes the WebAssembly binary once, next to the generated client in src/ and dist/, and points
 * the generated client at the file: it is read, compiled, and the bytes are garbage.
 *
 * A Prisma upgrade that generates this part differently fails the build here, naming what was
 * expected, rather than silently keeping the string.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GENERATED = 'src/generated/prisma/internal';
const CLASS_FILE = join(ROOT, GENERATED, 'class.ts');
const WASM_NAME = 'query-compiler.wasm';

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
// dist/ too: tsc does not copy it, and the built client reads it from beside itself.
for (const dir of [GENERATED, join('dist', GENERATED)]) {
  mkdirSync(join(ROOT, dir), { recursive: true });
  writeFileSync(join(ROOT, dir, WASM_NAME), binary);
}

const replacement = [
  `// Patched by scripts/prisma-compiler-file.ts: read from ${WASM_NAME}, not kept as a base64 string.`,
  `${indent}const { readFile } = await import('node:fs/promises')`,
  `${indent}return new WebAssembly.Module(await readFile(new URL('./${WASM_NAME}', import.meta.url)))`,
].join('\n');
writeFileSync(CLASS_FILE, source.replace(statement, replacement));
console.log(`Prisma's query compiler: ${binary.length} bytes in ${GENERATED}/${WASM_NAME}, loaded from the file`);
