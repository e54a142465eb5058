// The README's JavaScript snippets (every ```js block of clients/js/README.md),
// so that none can drift from the library: `--check` type-checks each as an
// application file (tsc --strict, checkJs, Node's types, `import
// 'myroom-client'` resolving to this package); test/readme.test.js runs each
// against the example server.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** @returns {string[]} the code of every ```js block, in order */
export function snippets() {
  const readme = readFileSync(join(PACKAGE, 'README.md'), 'utf8');
  return [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** Write the snippets as modules inside the package (so the package name resolves); returns their paths. */
export function writeSnippets(dir, rewrite = (code) => code) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return snippets().map((code, i) => {
    const file = join(dir, `snippet-${i + 1}.mjs`);
    writeFileSync(file, rewrite(code));
    return file;
  });
}

if (process.argv.includes('--check')) {
  const dir = join(PACKAGE, '.cache', 'readme-check');
  const files = writeSnippets(dir);
  if (files.length === 0) throw new Error('README.md has no ```js snippet');
  const config = {
    compilerOptions: {
      target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022'],
      types: ['node'], allowJs: true, checkJs: true, strict: true, noEmit: true,
    },
    files: files.map((f) => f.slice(dir.length + 1)),
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
  const tsc = join(PACKAGE, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { stdio: 'inherit' });
  } catch {
    console.error('readme-snippets: a snippet of clients/js/README.md does not type-check (above)');
    process.exit(1);
  }
  console.error(`readme-snippets: ${files.length} snippet(s) type-check`);
}
