// screenshot.mjs URL OUT.png [SECONDS]: loads the fieldbrain-web page in
// headless chromium, waits for live data (at most SECONDS, default 20),
// lets the traces fill for a moment and saves a screenshot. scripts/demo.sh
// runs it; exit 1 when the page never went live (the screenshot is saved
// all the same, showing why).
import { launch, waitLive } from "./browser.mjs";

const [url, out, seconds = "20"] = process.argv.slice(2);
const browser = await launch();
let status = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await page.goto(url);
  try {
    await waitLive(page, Number(seconds) * 1000);
    await page.waitForTimeout(3000);
  } catch (e) {
    console.error("screenshot: the page did not show live data: " + e.message.split("\n")[0]);
    status = 1;
  }
  await page.screenshot({ path: out, fullPage: true });
} finally {
  await browser.close();
}
process.exit(status);
