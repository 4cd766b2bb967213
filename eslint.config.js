// Linting as the Fastify organisation does it: neostandard (standard style, for TypeScript too).
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: [...neostandard.resolveIgnoresFromGitignore(), 'python/**', 'benchmarks/results/**']
  }),
  {
    // TypeBox's idiom: a schema and its static type share one name (`const X = Type.Object(...)`, `type X = Static<typeof X>`).
    files: ['lib/schemas/**/*.ts'],
    rules: { '@typescript-eslint/no-redeclare': 'off' }
  }
]
