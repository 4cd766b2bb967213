/*
 * What `npm pack` puts in the package, checked both ways: every file is one
 * a user needs (an allow-list), and everything a user needs is there. Reads
 * `npm pack --dry-run --json` in the repository (the build in dist/ must be
 * there: `npm test` builds first; scripts are not run, so packing neither
 * rebuilds nor touches the work tree).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const read = (path: string): string => readFileSync(join(root, path), 'utf8')

/** Every file a user needs, and nothing else. */
const allowed: Array<[RegExp, string]> = [
  [/^package\.json$/, 'the manifest'],
  [/^README\.md$/, 'the README'],
  [/^LICENSE$/, 'the licence'],
  [/^dist\/(.+\/)?[^/]+\.js$/, 'the built plugin'],
  [/^dist\/(.+\/)?[^/]+\.d\.ts$/, 'its declarations'],
  [/^dist\/(.+\/)?[^/]+\.(js|d\.ts)\.map$/, 'source maps (checked below: their sources travel with them)'],
  [/^bin\/.+$/, 'the set-up command'],
  [/^python\/pyproject\.toml$/, 'the bridge\'s Python project'],
  [/^python\/README\.md$/, 'its readme (pyproject.toml\'s `readme`)'],
  [/^python\/autogen_stream_bridge\/(.+\/)?[^/]+\.py$/, 'the bridge\'s modules'],
  [/^python\/autogen_stream_bridge\/py\.typed$/, 'its PEP 561 marker (pyproject.toml\'s package-data)'],
  [/^docs\/[^/]+\.md$/, 'the docs'],
  [/^docs\/[^/]+\.(svg|png|jpe?g|gif)$/, 'images of the docs (checked below: each is referenced)']
]

async function packedFiles (): Promise<string[]> {
  // A clean environment: settings of an npm that runs this test (npm test) must not change what is packed.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 })
  const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>
  if (pack === undefined) throw new Error(`npm pack printed no package: ${stdout}`)
  return pack.files.map((f) => f.path).sort()
}

/** Files under `dir` (relative to the repository), skipping what Python and editors leave behind. */
function tree (dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = posix.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== '__pycache__') out.push(...tree(path))
    } else if (!/\.py[cod]$/.test(entry.name)) out.push(path)
  }
  return out
}

const manifest = JSON.parse(read('package.json')) as {
  main?: string
  types?: string
  bin?: string | Record<string, string>
  exports?: unknown
}
const normal = (path: string): string => posix.normalize(path).replace(/^\.\//, '')

t.test('the package', async (t) => {
  const files = await packedFiles()
  const shipped = new Set(files)

  t.test('holds only files a user needs', async (t) => {
    const stray = files.filter((f) => !allowed.some(([re]) => re.test(f)))
    t.same(stray, [], 'files outside the allow-list (tests, build leftovers such as *.egg-info or __pycache__, benchmarks, venvs)')
  })

  t.test('holds what a user needs', async (t) => {
    const must = [
      'package.json',
      'README.md',
      'dist/index.js',
      'dist/index.d.ts',
      'python/pyproject.toml',
      'python/README.md',
      'python/autogen_stream_bridge/__init__.py',
      'python/autogen_stream_bridge/__main__.py',
      'python/autogen_stream_bridge/worker.py',
      'python/autogen_stream_bridge/demo.py',
      'python/autogen_stream_bridge/py.typed',
      ...(existsSync(join(root, 'LICENSE')) ? ['LICENSE'] : [])
    ]
    t.same(must.filter((f) => !shipped.has(f)), [], 'missing must-haves')
  })

  t.test('has a working bin: fastify-autogen-stream', async (t) => {
    const bin = typeof manifest.bin === 'string' ? { 'fastify-autogen-stream': manifest.bin } : manifest.bin ?? {}
    const entry = bin['fastify-autogen-stream']
    if (entry === undefined) {
      t.fail('package.json has no "bin": { "fastify-autogen-stream": ... } (the setup-python command)')
      return
    }
    t.ok(shipped.has(normal(entry)), `${entry} is packed`)
    t.ok(existsSync(join(root, entry)) && read(entry).startsWith('#!/usr/bin/env node\n'), `${entry} starts with #!/usr/bin/env node`)
  })

  t.test('holds what package.json points to', async (t) => {
    const targets = new Set<string>()
    const walk = (value: unknown): void => {
      if (typeof value === 'string') targets.add(normal(value))
      else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk)
    }
    walk([manifest.main, manifest.types, manifest.exports])
    t.ok(targets.size > 0)
    t.same([...targets].filter((f) => !shipped.has(f)), [], 'main, types and exports targets that are not packed')
  })

  t.test('ships the build of every module of lib/, and no build of a module that is gone', async (t) => {
    const sources = tree('lib').filter((f) => f.endsWith('.ts')).map((f) => f.replace(/^lib\//, '').replace(/\.ts$/, ''))
    const wanted = sources.flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`])
    t.same(wanted.filter((f) => !shipped.has(f)), [], 'modules of lib/ without their packed .js and .d.ts (run npm run build?)')
    const modules = new Set(sources)
    const stale = files.filter((f) => f.startsWith('dist/')).filter((f) => !modules.has(f.replace(/^dist\//, '').replace(/\.(js|d\.ts)(\.map)?$/, '')))
    t.same(stale, [], 'packed build output of no module in lib/ (a stale dist/)')
  })

  t.test('ships every file of the Python package', async (t) => {
    const wanted = tree('python/autogen_stream_bridge')
    t.ok(wanted.length > 0)
    t.same(wanted.filter((f) => !shipped.has(f)), [], 'files of python/autogen_stream_bridge/ that are not packed')
  })

  t.test('every relative import of packed code resolves inside the package', async (t) => {
    const code = files.filter((f) => /^(dist|bin)\/.+\.(m?js)$/.test(f))
    const broken: string[] = []
    for (const file of code) {
      const text = read(file)
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = posix.join(posix.dirname(file), m[1] as string)
        if (!shipped.has(target)) broken.push(`${file} -> ${m[1] as string}`)
      }
    }
    t.same(broken, [], 'imports of files that are not packed')
  })

  t.test('source maps: packed maps carry their sources, and no packed file points to a map that is not packed', async (t) => {
    const problems: string[] = []
    for (const file of files.filter((f) => f.endsWith('.map'))) {
      const map = JSON.parse(read(file)) as { sources?: string[], sourceRoot?: string, sourcesContent?: Array<string | null> }
      for (const [i, source] of (map.sources ?? []).entries()) {
        const target = posix.join(posix.dirname(file), map.sourceRoot ?? '', source)
        if (typeof map.sourcesContent?.[i] !== 'string' && !shipped.has(target)) {
          problems.push(`${file}: source ${source} is neither packed nor inlined (sourcesContent)`)
        }
      }
    }
    for (const file of files.filter((f) => /\.(m?js|d\.ts)$/.test(f))) {
      const url = /\/\/# sourceMappingURL=([^\s]+)\s*$/.exec(read(file))?.[1]
      if (url !== undefined && !url.startsWith('data:') && !shipped.has(posix.join(posix.dirname(file), url))) {
        problems.push(`${file}: points to ${url}, which is not packed`)
      }
    }
    t.same(problems, [])
  })

  t.test('docs images: each packed one is referenced by a packed page, and each referenced one is packed', async (t) => {
    const pages = files.filter((f) => f.endsWith('.md'))
    const referenced = new Set<string>()
    for (const page of pages) {
      for (const m of read(page).matchAll(/!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img[^>]*\ssrc=["']([^"']+)["']/g)) {
        const src = (m[1] ?? m[2]) as string
        if (/^[a-z]+:/i.test(src)) continue
        referenced.add(posix.join(posix.dirname(page), src))
      }
    }
    const images = files.filter((f) => /\.(svg|png|jpe?g|gif)$/.test(f))
    t.same(images.filter((f) => !referenced.has(f)), [], 'packed images no page shows')
    t.same([...referenced].filter((f) => !shipped.has(f)), [], 'images pages show that are not packed')
  })
})
