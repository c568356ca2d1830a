/**
 * The dashboard in a real browser: Debian's `chromium` driven by `playwright-core` (no browser
 * download; .ci/run installs the package). Tests skip with a message when it is absent.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  return existsSync(chromiumPath)
    ? undefined
    : `${chromiumPath} is absent (apt-get install chromium); dashboard browser tests skipped`;
}

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'], timeout: 15_000 });
}

/** Opens the dashboard at `base` and logs in through its form; resolves on the overview. */
export async function logIn(page: Page, base: string, user = 'guest', password = 'guest'): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
}
