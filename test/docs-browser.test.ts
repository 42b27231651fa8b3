// The documentation page in a real browser (Debian's Chromium, headless, driven by playwright-core), as a
// person uses it: log in through "Try it out" on POST /login, copy the token from the answer into
// "Authorize", then call GET / and read the greeting. No console error, no page error, no CSP violation.
// A screenshot of the end is kept in test/artifacts/ (git-ignored), one for each address the page is opened at.
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Locator, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { build, freePort, testEnv } from './support/index.js'

const CHROMIUM = '/usr/bin/chromium'
const USERNAME = 'ada'
const ADMIN_PASSWORD = 'a browser test passphrase 8'

// One operation's block on the page, by method and path.
const operation = (page: Page, method: string, path: string): Locator =>
  page.locator(`.opblock.opblock-${method}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) })

// Expand the operation, "Try it out", optionally type the body, "Execute": the answer's status and body.
async function tryItOut (page: Page, block: Locator, body?: string): Promise<{ status: string, text: string }> {
  await block.locator('.opblock-summary').first().click()
  await block.locator('.try-out__btn').click()
  if (body !== undefined) await block.locator('textarea.body-param__text').fill(body)
  await block.locator('.execute').click()
  const live = block.locator('.live-responses-table .response').first()
  await live.waitFor()
  const status = (await live.locator('.response-col_status').innerText()).trim()
  const text = await live.locator('.response-col_description .highlight-code pre').first().innerText()
  return { status, text }
}

// The page must work from whichever address it was opened at: its requests go to its own origin (the
// document's server is "/", or PUBLIC_URL's path). The service listens as `npm start` starts it, at
// fastify-cli's default address (localhost), and the page is opened at each of the addresses a person may
// type (without PUBLIC_URL), and at 127.0.0.1 with PUBLIC_URL=http://localhost:PORT (what the document
// said when "Try it out" from http://127.0.0.1:PORT/docs failed: another origin, refused by the page's own
// connect-src).
t.test('a person logs in, authorizes and is greeted on /docs, opened at 127.0.0.1 and at localhost, with no console error or CSP violation', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`,
  timeout: 180_000
}, async (t) => {
  const profile = await mkdtemp(join(tmpdir(), 'auth-docs-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  context.setDefaultTimeout(15_000)

  for (const publicUrl of [false, true]) {
    const port = await freePort()
    const PUBLIC_URL = publicUrl ? `http://localhost:${port}` : undefined
    const app = await build(t, testEnv(t, { ADMIN_USERNAME: USERNAME, ADMIN_PASSWORD, PUBLIC_URL }))
    await app.listen({ port })
    // With PUBLIC_URL at localhost, the other address is the one that used to fail.
    for (const host of publicUrl ? ['127.0.0.1'] : ['127.0.0.1', 'localhost']) {
      const name = `${PUBLIC_URL === undefined ? 'no PUBLIC_URL' : `PUBLIC_URL=${PUBLIC_URL}`}, opened at http://${host}:${port}/docs`
      await t.test(name, async (t) => {
        const page = await context.newPage()
        t.teardown(() => page.close())
        await personalFlow(t, page, `http://${host}:${port}`, join(import.meta.dirname, 'artifacts', `docs-flow-${publicUrl ? 'public-url-' : ''}${host}.png`))
      })
    }
    await app.close()
  }
})

async function personalFlow (t: Test, page: Page, base: string, screenshot: string) {
  const problems: string[] = []
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`) })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  // The page's own report of anything its policy refused (also logged to the console, but this says which).
  // (A string: the script runs in the page, where `document` is.)
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
    console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline ' + e.sample) + ' at ' + e.sourceFile + ':' + e.lineNumber))`)

  try {
    const loaded = await page.goto(`${base}/docs`)
    t.equal(loaded?.status(), 200, 'GET /docs')
    await page.locator('.opblock').first().waitFor()

    // POST /login: the person types the name and password into the example body and executes it.
    const login = await tryItOut(page, operation(page, 'post', '/login'), JSON.stringify({ username: USERNAME, password: ADMIN_PASSWORD }, null, 2))
    t.equal(login.status, '200', 'the login answered 200 on the page')
    const token = (JSON.parse(login.text) as { token?: string }).token
    t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'the token read from the page is a JWT')

    // Authorize: paste it into bearerAuth, authorize, close.
    await page.locator('.scheme-container .btn.authorize').click()
    const dialog = page.locator('.modal-ux')
    await dialog.locator('input[aria-label="auth-bearer-value"], .auth-container input[type="text"]').first().fill(token!)
    await dialog.locator('.auth-btn-wrapper .modal-btn.authorize').click()
    await dialog.locator('.auth-btn-wrapper .btn-done').click()
    await dialog.waitFor({ state: 'detached' })

    // GET /: the greeting, with the token Swagger UI now sends.
    const greeting = await tryItOut(page, operation(page, 'get', '/'))
    t.equal(greeting.status, '200', 'GET / answered 200 on the page')
    t.match(greeting.text, `Welcome, ${USERNAME}!`, 'the page shows the greeting')
    await t.resolves(page.getByText(`Welcome, ${USERNAME}!`).first().waitFor(), 'visible on the page')
  } finally {
    // Where the page is, passed or not, and what it complained of.
    await mkdir(join(import.meta.dirname, 'artifacts'), { recursive: true })
    await page.screenshot({ path: screenshot, fullPage: true })
    t.comment(`screenshot: ${screenshot}`)
    t.same(problems, [], 'no console error, page error or CSP violation')
  }
}
