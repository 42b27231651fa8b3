import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

// README is the entry point and the reference lives in docs/: README stays short, every relative link in
// them resolves (the file, and the heading a fragment names), every docs page lists its sections, and no
// text names an issue number (history is told by dates and commits).
const root = join(import.meta.dirname, '..')
const docs = join(root, 'docs')
const pages = [join(root, 'README.md'), ...readdirSync(docs).filter((name) => name.endsWith('.md')).sort().map((name) => join(docs, name))]

const read = (file: string): string => readFileSync(file, 'utf8')
const shown = (file: string): string => relative(root, file)

// The lines outside fenced code blocks, with their line numbers.
function prose (markdown: string): Array<{ line: number, text: string }> {
  const lines: Array<{ line: number, text: string }> = []
  let fence: string | undefined
  markdown.split('\n').forEach((line, index) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (fence === undefined && marker !== undefined) fence = marker[0]
    else if (fence !== undefined && marker?.[0] === fence) fence = undefined
    else if (fence === undefined) lines.push({ line: index + 1, text: line })
  })
  return lines
}

// GitHub's heading anchors: lower case, only letters, digits, spaces, hyphens and underscores kept, spaces
// as hyphens; a repeated slug gets -1, -2, …
function slugs (markdown: string): Array<{ level: number, title: string, slug: string }> {
  const seen = new Map<string, number>()
  const headings: Array<{ level: number, title: string, slug: string }> = []
  for (const { text } of prose(markdown)) {
    const match = /^(#{1,6})\s+(.+?)\s*#*\s*$/.exec(text)
    if (match === null) continue
    const title = match[2]
    const base = title.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replaceAll(' ', '-')
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    headings.push({ level: match[1].length, title, slug: count === 0 ? base : `${base}-${count}` })
  }
  return headings
}

// Markdown links [text](target), outside code blocks and inline code; a link's text may run over lines.
function links (markdown: string): Array<{ line: number, target: string }> {
  const lines = markdown.split('\n').map(() => '')
  for (const { line, text } of prose(markdown)) lines[line - 1] = text.replace(/`[^`]*`/g, '')
  const outsideCode = lines.join('\n')
  return [...outsideCode.matchAll(/\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => ({
    line: outsideCode.slice(0, match.index).split('\n').length,
    target: match[1]
  }))
}

t.test('README is an entry point of at most 300 lines', async (t) => {
  const lines = read(join(root, 'README.md')).replace(/\n$/, '').split('\n').length
  t.ok(lines <= 300, `README.md has ${lines} lines`)
})

t.test('every relative link in README and docs/ resolves, fragments to a heading of the target', async (t) => {
  const broken: string[] = []
  let checked = 0
  for (const page of pages) {
    for (const { line, target } of links(read(page))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto:: not checked
      checked++
      const [path, fragment] = target.split('#', 2) as [string, string | undefined]
      const file = path === '' ? page : resolve(dirname(page), decodeURIComponent(path))
      const where = `${shown(page)}:${line}: ${target}`
      if (!existsSync(file)) broken.push(`${where}: no such file`)
      else if (fragment === undefined || fragment === '') continue
      else if (statSync(file).isDirectory() || !file.endsWith('.md')) broken.push(`${where}: a fragment into a file that is not markdown`)
      else if (!slugs(read(file)).some((heading) => heading.slug === decodeURIComponent(fragment))) broken.push(`${where}: ${shown(file)} has no such heading`)
    }
  }
  t.ok(checked > 0, `${checked} relative links checked`)
  t.same(broken, [], 'no broken link')
})

t.test('every docs page lists its ## sections, the generated ones too', async (t) => {
  for (const page of pages.filter((page) => dirname(page) === docs)) {
    const markdown = read(page)
    const headings = slugs(markdown)
    t.equal(headings[0]?.level, 1, `${shown(page)} starts with a title`)
    const listed = new Set(links(markdown).map(({ target }) => target).filter((target) => target.startsWith('#')).map((target) => target.slice(1)))
    const sections = headings.filter((heading) => heading.level === 2)
    t.ok(sections.length > 0, `${shown(page)} has sections`)
    for (const section of sections) t.ok(listed.has(section.slug), `${shown(page)}'s contents link "## ${section.title}" (#${section.slug})`)
  }
})

// An issue number: "issue 14", "issues 13 and 14", "#21", "red team 14". Not a Unicode report's number
// ("UTS #39") or an HTML character reference.
const issueNumber = /\bissues? #?\d+|(?<![\w&]|UTS )#\d+\b|\bred team (?:of )?#?\d+/gi

t.test('no text in README or docs/ names an issue number', async (t) => {
  const named: string[] = []
  for (const page of pages) {
    for (const { line, text } of prose(read(page))) {
      for (const match of text.matchAll(issueNumber)) named.push(`${shown(page)}:${line}: ${match[0]}`)
    }
  }
  t.same(named, [], 'no issue number')
})
