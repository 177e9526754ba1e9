// Real Chromium for the end-to-end tests, driven by playwright-core.
//
//   import { browserMissing, launchBrowser, dashboardLogin } from './lib/browser.mjs';
//   test('...', { skip: await browserMissing() }, async () => {
//     const browser = await launchBrowser();
//     const page = await (await browser.newContext()).newPage();
//     await dashboardLogin(page, d.url('/', 'dashboard'));
//
// CHROMIUM names the browser (default /usr/bin/chromium).
import { existsSync } from 'node:fs';
import { AGENT_PASSWORD } from './daemon.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let chromium = null;

// Why the browser tests cannot run here, or false.
export async function browserMissing() {
	try {
		({ chromium } = await import('playwright-core'));
	} catch {
		return 'playwright-core is not installed (npm install in tests/e2e)';
	}
	if (!existsSync(CHROMIUM)) return `no browser at ${CHROMIUM} (apt-get install chromium)`;
	return false;
}

// A headless Chromium for a test (close it when done).
export async function launchBrowser() {
	if (!chromium) ({ chromium } = await import('playwright-core'));
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
	});
}

// Log in to the dashboard at url as `login` and wait for the queue.
export async function dashboardLogin(page, url, login = 'sam', password = AGENT_PASSWORD) {
	await page.goto(url);
	await page.fill('#login-name', login);
	await page.fill('#login-password', password);
	await page.click('#login-submit');
	await page.waitForSelector('#app:not([hidden])');
}

// A dashboard API call from a logged-in page, with its CSRF token:
// { status, json }.
export async function dashboardApi(page, method, url, body) {
	return page.evaluate(async ([m, u, b]) => {
		const me = await (await fetch('/api/me')).json();
		const r = await fetch(u, { method: m, headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf }, body: b ? JSON.stringify(b) : undefined });
		return { status: r.status, json: await r.json().catch(() => null) };
	}, [method, url, body]);
}
