// browser.mjs: Debian's chromium, headless, driven by playwright-core (no
// browser download: CHROMIUM or /usr/bin/chromium).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export async function launch() {
  let chromium;
  try {
    ({ chromium } = require("playwright-core"));
  } catch (e) {
    console.error("tests/web: playwright-core is missing: run scripts/setup-deps.sh (npm ci in tests/web)");
    process.exit(1);
  }
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // root in CI containers: chromium's sandbox needs user namespaces it may not get
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    headless: true,
  });
}

// Waits until the page shows live telemetry: the status pill says "live",
// a cycle is shown, motor values are present and a slice image is decoded.
export async function waitLive(page, timeoutMs) {
  await page.waitForFunction(() => {
    const img = document.getElementById("slice");
    return document.getElementById("status").textContent === "live" &&
      /^\d+$/.test(document.getElementById("cycle").textContent) &&
      document.querySelectorAll(".motor-value").length > 0 &&
      img.complete && img.naturalWidth > 0;
  }, null, { timeout: timeoutMs, polling: 100 });
}
