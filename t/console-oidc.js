// SPDX-License-Identifier: BSD-3-Clause
// The console's single sign-on login in headless Chromium, for t/console.t: BASE_URL ARTIFACT_DIR against
// a weft whose control.oidc.* names the test's OpenID provider (which logs in the account the test set).
// Prints the same lines as t/console.js.
'use strict';
const { chromium } = require('playwright-core');
const path = require('path');

const [base, artifacts] = process.argv.slice(2);
const out = (...f) => console.log(f.join('\t').replace(/\n/g, ' '));
const check = (cond, name, detail) => out(cond ? 'ok' : 'fail', name, cond ? '' : String(detail || ''));

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(20000);
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (401|404)\b/.test(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));

  await page.goto(base + '/admin/');
  await page.waitForSelector('#login-oidc', { state: 'visible' });
  check(true, 'with an OpenID provider configured the login page offers single sign-on');
  check(/\/admin\/login\/oidc\?next=%2Fadmin%2F$/.test(await page.getAttribute('#oidc-button', 'href')), 'its link is /admin/login/oidc?next=/admin/',
    await page.getAttribute('#oidc-button', 'href'));
  await page.screenshot({ path: path.join(artifacts, 'login-oidc.png'), fullPage: true });
  await page.click('#oidc-button');
  await page.waitForSelector('#nav', { state: 'visible' });
  check(page.url().startsWith(base + '/admin/'), 'through the provider and back: logged in, on the console', page.url());
  await page.waitForFunction(() => document.querySelector('#whoami').textContent !== '');
  check(await page.textContent('#whoami') === 'alice@example.com', 'the header names the user the ID token named', await page.textContent('#whoami'));
  check(await page.evaluate(() => sessionStorage.getItem('weft.apikey')) === null, 'no API key is kept: the session cookie is the credential');
  // a change: a POST carrying the CSRF token from the weft_csrf cookie
  await page.click('#nav a[href="#/users"]');
  await page.waitForSelector('#user-name');
  await page.fill('#user-name', 'frank');
  await page.press('#user-name', 'Enter');
  await page.waitForSelector('#users tbody tr:has-text("frank")');
  check(true, 'a change made with the session (POST with X-CSRF-Token) works');
  await page.screenshot({ path: path.join(artifacts, 'users-oidc.png'), fullPage: true });
  await page.click('#logout');
  await page.waitForSelector('#apikey', { state: 'visible' });
  await page.reload();
  await page.waitForSelector('#apikey', { state: 'visible' });
  check(await page.isHidden('#nav') && await page.isHidden('#logout'), 'logging out ends the session: a reload shows the login page');
  check(problems.length === 0, 'no script errors and no Content-Security-Policy violations', problems.join(' | '));
  await browser.close();
}

main().catch((e) => { out('fail', 'the single sign-on browser session', e.stack || e.message); process.exit(1); });
