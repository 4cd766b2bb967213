// The size of fastify-autogen-stream/client as a browser app ships it: the
// built dist/client bundled with esbuild for the browser (no Node built-in
// may be reached), minified, then gzip -9. `node scripts/client-size.mjs`
// prints { minified, gzipped } in bytes; the README states these figures and
// test/client-size-in-readme.test.ts holds it to them.
import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

export async function clientSize () {
  const entry = fileURLToPath(new URL('../dist/client/index.js', import.meta.url))
  const out = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' })
  const code = out.outputFiles[0].contents
  return { minified: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(await clientSize()))
