import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

// Each plugin declares as its dependencies exactly the plugins it uses: those that provide a decorator it
// reads (what a plugin provides is what it adds to FastifyInstance by declaration merging), plus those
// whose hooks must run before its own (listed below with the reason). Start-up order is not a reason: the
// start-up sequence (src/startup/sequence.ts) orders the steps, whatever order plugins register in.
const HOOK_ORDER: Record<string, Record<string, string>> = {
  cors: { 'security-headers': 'helmet\'s onRequest hook first: a preflight answer gets the security headers too' },
  'under-pressure': {
    'security-headers': 'a 503 of the pressure check carries the security headers',
    cors: 'a listed origin can read a 503 of the pressure check, and its Retry-After'
  },
  'route-contract': {
    'rate-limit': 'its onRoute hook sees the rate limit each route was given',
    'under-pressure': 'its onRoute hook sees the routes that answer under pressure'
  }
}

const dir = join(import.meta.dirname, '..', 'plugins')

interface PluginFacts { file: string, name: string, dependencies: string[], provides: string[], uses: string[] }

// Comments out (a `//` that starts a comment: at a line's start or after a space), strings kept.
const code = (source: string) => source.replace(/(^|\s)\/\/.*$/gm, '$1')

export function pluginFacts (file: string, source: string): PluginFacts {
  const options = source.match(/\{\s*name:\s*'([^']+)'(?:,\s*dependencies:\s*\[([^\]]*)\])?\s*\}\s*\)\s*(?:\/\/.*)?\s*$/m)
  if (!options) throw new Error(`${file}: no fastify-plugin options { name, dependencies }`)
  const dependencies = [...(options[2] ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]!)
  const merged = source.match(/interface FastifyInstance\s*\{([\s\S]*?)\n {2}\}/)
  const provides = merged ? [...code(merged[1]!).matchAll(/^\s*(\w+)\??:/gm)].map((m) => m[1]!) : []
  const single = source.match(/interface FastifyInstance \{ (\w+):/)
  if (single) provides.push(single[1]!)
  const uses = [...new Set([...code(source).matchAll(/\bfastify\.(\w+)/g)].map((m) => m[1]!))]
  return { file, name: options[1]!, dependencies, provides, uses }
}

const plugins = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => pluginFacts(f, readFileSync(join(dir, f), 'utf8')))
const provider = new Map<string, string>()
for (const plugin of plugins) for (const decorator of plugin.provides) provider.set(decorator, plugin.name)

t.test('every plugin provides what it adds to FastifyInstance, under one name', async (t) => {
  t.equal(new Set(plugins.map((p) => p.name)).size, plugins.length, 'plugin names are unique')
  for (const decorator of ['config', 'readiness', 'accounts', 'keys', 'audit', 'authenticate', 'redis']) {
    t.ok(provider.has(decorator), `${decorator} has a provider (${provider.get(decorator)})`)
  }
})

for (const plugin of plugins) {
  t.test(`${plugin.file} (${plugin.name}) depends on exactly what it uses`, async (t) => {
    const used = new Set(plugin.uses.map((u) => provider.get(u)).filter((p): p is string => p !== undefined && p !== plugin.name))
    const ordered = HOOK_ORDER[plugin.name] ?? {}
    const expected = [...new Set([...used, ...Object.keys(ordered)])].sort()
    t.same([...plugin.dependencies].sort(), expected,
      `uses ${[...used].sort().join(', ') || 'no other plugin'}${Object.keys(ordered).length ? `; after ${Object.keys(ordered).join(', ')} for its hooks` : ''}`)
  })
}

t.test('the check sees a dependency that is not used, and one that is missing', async (t) => {
  const unused = pluginFacts('x.ts', "fastify.decorate('x', fastify.config)\n}, { name: 'x', dependencies: ['env', 'audit'] })\n")
  const missing = pluginFacts('y.ts', "fastify.readiness.step('store', async () => fastify.store)\n}, { name: 'y', dependencies: ['env'] })\n")
  const expectedOf = (p: PluginFacts) => [...new Set(p.uses.map((u) => provider.get(u)).filter((n) => n !== undefined))].sort()
  t.not(unused.dependencies.sort().join(), expectedOf(unused).join(), 'audit is listed but not used')
  t.same(expectedOf(missing), ['readiness', 'services'], 'readiness and services are used but not listed')
})
