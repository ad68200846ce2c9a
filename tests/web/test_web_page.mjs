// test_web_page.mjs: the bundled page in a real headless chromium
// (playwright-core driving Debian's chromium). It first shows that the
// brain is not reachable; then, with a brain and the simulated rover
// running, live data (cycle advancing, motor values, a decoded slice);
// a screenshot goes to the build directory; fieldbrain-web stopped and
// started again, the page says so and recovers by itself.
// Usage: node test_web_page.mjs BUILD_DIR TEST
import path from "node:path";
import { Brain, Web, assert, freePort } from "./harness.mjs";
import { launch, waitLive } from "./browser.mjs";

const [build, name] = process.argv.slice(2);
const text = (page, id) => page.$eval("#" + id, (e) => e.textContent);

const tests = {
  async page_shows_live_brain_and_sim() {
    const ports = { sensor: await freePort(), motor: await freePort(), tele: await freePort() };
    const brain = new Brain(build, { size: 16, every: 1, sliceEvery: 25 });
    const web = await new Web(build, "tcp://127.0.0.1:" + ports.tele, ["--timeout", "1"]).start();
    const browser = await launch();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("requestfailed", (r) => errors.push("request failed: " + r.url()));
      page.on("request", (r) => { if (!r.url().startsWith(web.http) && !r.url().startsWith("data:")) errors.push("fetched " + r.url()); });
      await page.goto(web.http);

      // No brain yet: a clear message.
      await page.waitForFunction(() => document.getElementById("status").textContent === "brain not reachable",
                                 null, { timeout: 10000 });
      const banner = await text(page, "banner");
      assert(/not reachable|no telemetry/.test(banner) && banner.includes(String(ports.tele)),
             "the banner says the brain is not reachable and where it was looked for: " + banner);

      // Brain and sim: live data at 100 Hz telemetry.
      await brain.start(ports);
      brain.startSim();
      await waitLive(page, 30000);
      const c0 = Number(await text(page, "cycle"));
      await page.waitForTimeout(1500);
      const c1 = Number(await text(page, "cycle"));
      assert(c1 > c0, "the cycle advances (" + c0 + " then " + c1 + ")");
      const motors = await page.$$eval(".motor-value", (els) => els.map((e) => e.textContent));
      assert(motors.length === 5 && motors.every((m) => /^[+-]\d\.\d{3}$/.test(m)), "five motor values: " + motors);
      const slice = await page.$eval("#slice", (img) => [img.naturalWidth, img.naturalHeight]);
      assert(slice[0] === 16 && slice[1] === 16, "the slice image is decoded, 16 x 16: " + slice);
      await page.waitForFunction(() => document.querySelector("#links tbody td.up"), null, { timeout: 10000 });
      // Responsive: the main thread answers at once while 100 Hz telemetry runs.
      const t0 = Date.now();
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
      assert(Date.now() - t0 < 1000, "a frame within a second (" + (Date.now() - t0) + " ms)");
      await page.waitForTimeout(2000);
      const shot = path.join(build, "test_web_page.png");
      await page.screenshot({ path: shot, fullPage: true });
      console.log("screenshot: " + shot);

      // fieldbrain-web goes away and comes back on the same port.
      const port = web.port;
      await web.stop();
      await page.waitForFunction(() => document.getElementById("status").textContent === "server not reachable",
                                 null, { timeout: 10000 });
      await web.start(port);
      await waitLive(page, 20000);
      assert(errors.length === 0, "no page errors and nothing fetched from elsewhere: " + errors.join("; "));
    } finally {
      await browser.close();
      await web.stop();
      if (brain.proc) await brain.stop();
    }
  },
};

if (!tests[name]) {
  console.error("unknown test " + name + "; known: " + Object.keys(tests).join(" "));
  process.exit(2);
}
const timer = setTimeout(() => { console.error(name + ": timed out"); process.exit(1); }, 110000);
tests[name]().then(() => {
  clearTimeout(timer);
  console.log(name + ": ok");
  process.exit(0);
}, (e) => {
  console.error(name + ": " + (e.stack || e));
  process.exit(1);
});
