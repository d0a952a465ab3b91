// Drives the console in headless Chromium (Debian's, through playwright-core) against a running
// appliance, for tests/console.rs. Prints one JSON line per step on stdout and exits non-zero
// with the reason on failure. Screenshots go to ARTIFACTS.
//
// Environment: BASE (http://127.0.0.1:PORT), TOKEN (the appliance's API token), CAMERA (the
// camera to look at), ARTIFACTS (folder for screenshots), PROFILE (an empty folder for the
// browser profile), CHROMIUM (the browser, default /usr/bin/chromium).
"use strict";

const { chromium } = require("playwright-core");
const path = require("path");

const env = (name, fallback) => {
  const v = process.env[name] || fallback;
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env("BASE");
const TOKEN = env("TOKEN");
const CAMERA = env("CAMERA");
const ARTIFACTS = env("ARTIFACTS");
const PROFILE = env("PROFILE");
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");

const step = (name, data = {}) => console.log(JSON.stringify({ step: name, ...data }));
const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, name) });

async function live(page) {
  await page.goto(`${BASE}/#/live`);
  const canvas = `article.tile[data-camera="${CAMERA}"] canvas`;
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.boxes || 0) >= 1, canvas, { timeout: 45000, polling: 250 });
  // The page says it drew boxes; the pixels must show a picture, not a blank canvas.
  const drawn = await page.$eval(canvas, (c) => {
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sum2 = 0, n = 0, boxPixels = 0;
    for (let i = 0; i < data.length; i += 4 * 97) {
      const v = (data[i] + data[i + 1] + data[i + 2]) / 3;
      sum += v; sum2 += v * v; n += 1;
    }
    // Saturated pixels of the person colour (hsl(150 85% 55%) ≈ rgb(45, 236, 141)).
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] < 90 && data[i + 1] > 200 && data[i + 2] > 100 && data[i + 2] < 190) boxPixels += 1;
    }
    const mean = sum / n;
    return { boxes: Number(c.dataset.boxes), frame: Number(c.dataset.frame), width: c.width, stddev: Math.sqrt(sum2 / n - mean * mean), boxPixels };
  });
  if (drawn.stddev < 10) throw new Error(`the live canvas looks blank: ${JSON.stringify(drawn)}`);
  if (drawn.boxPixels < 20) throw new Error(`no box outline pixels on the live canvas: ${JSON.stringify(drawn)}`);
  const health = await page.$eval(`article.tile[data-camera="${CAMERA}"] .health`, (e) => e.textContent);
  await shot(page, "console-live.png");
  step("live", { ...drawn, health });
}

async function phone(context) {
  const page = await context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/#/live`);
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.boxes || 0) >= 1,
    `article.tile[data-camera="${CAMERA}"] canvas`, { timeout: 30000, polling: 250 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) throw new Error(`the page is ${overflow}px wider than a phone screen`);
  await shot(page, "console-phone.png");
  await page.goto(`${BASE}/#/events`);
  await page.waitForSelector("li.event", { timeout: 30000 });
  const eventsOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (eventsOverflow > 1) throw new Error(`the events page is ${eventsOverflow}px wider than a phone screen`);
  await shot(page, "console-phone-events.png");
  await page.close();
  step("phone", { overflow, eventsOverflow });
}

async function events(page) {
  await page.goto(`${BASE}/#/events`);
  const loaded = "li.event img.snapshot";
  await page.waitForFunction((sel) => [...document.querySelectorAll(sel)].some((img) => img.complete && img.naturalWidth > 0),
    loaded, { timeout: 45000, polling: 250 });
  const listed = await page.$$eval("li.event", (items) => items.length);
  await shot(page, "console-events.png");
  // Open the first event with a loaded thumbnail: its full snapshot must load too.
  await page.evaluate((sel) => {
    const img = [...document.querySelectorAll(sel)].find((i) => i.complete && i.naturalWidth > 0);
    img.closest("button").click();
  }, loaded);
  await page.waitForFunction(() => {
    const img = document.querySelector("#snapshot-full");
    return document.querySelector("#snapshot-dialog").open && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 15000, polling: 250 });
  const snapshot = await page.$eval("#snapshot-full", (img) => ({ width: img.naturalWidth, height: img.naturalHeight }));
  await shot(page, "console-snapshot.png");
  await page.click("#snapshot-close");
  step("events", { listed, snapshot });
}

async function editor(page) {
  await page.goto(`${BASE}/#/rules`);
  await page.selectOption("#editor-camera", CAMERA);
  await page.waitForFunction(() => document.querySelector("#editor-canvas").dataset.ready === "1", null, { timeout: 20000 });
  await page.click("#tool-line");
  const box = await page.$eval("#editor-canvas", (c) => {
    const r = c.getBoundingClientRect();
    return { x: r.left, y: r.top, w: r.width, h: r.height };
  });
  // A vertical line down the middle of the frame: people walking across the square cross it.
  await page.mouse.move(box.x + box.w * 0.5, box.y + box.h * 0.1);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + box.w * 0.5, box.y + box.h * (0.1 + 0.085 * i));
  await page.mouse.up();
  await page.waitForSelector("#shape-name", { timeout: 5000 });
  await page.fill("#shape-name", "middle");
  await page.dispatchEvent("#shape-name", "change");
  await page.click("#editor-save");
  // Changes need the token: the console asks for it.
  await page.waitForSelector("#token-dialog[open]", { timeout: 10000 });
  await shot(page, "console-token.png");
  await page.fill("#token-input", TOKEN);
  await page.click("#token-save");
  await page.waitForFunction(() => document.querySelector("#editor-status").classList.contains("ok"), null, { timeout: 30000 });
  const status = await page.$eval("#editor-status", (e) => e.textContent);
  await shot(page, "console-editor.png");
  step("editor", { status });
}

async function charts(page) {
  await page.click("#theme-toggle"); // system → light
  await page.click("#theme-toggle"); // light → dark
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  if (theme !== "dark") throw new Error(`the theme toggle gave ${theme}`);
  await page.goto(`${BASE}/#/charts`);
  await page.selectOption("#chart-camera", CAMERA);
  await page.waitForFunction(() => document.querySelectorAll("#latency-table tbody td").length > 0
    && !document.querySelector("#latency-table tbody td:nth-child(2)").textContent.includes("—"), null, { timeout: 20000 });
  await page.waitForTimeout(2500);
  await shot(page, "console-charts-dark.png");
  await page.goto(`${BASE}/#/live`);
  await page.waitForTimeout(1500);
  await shot(page, "console-live-dark.png");
  step("charts", { theme });
}

(async () => {
  const context = await chromium.launchPersistentContext(PROFILE, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await live(page);
    await events(page);
    await phone(context);
    await editor(page);
    await charts(page);
    if (errors.length) throw new Error(`script errors on the page: ${errors.join("; ")}`);
    step("done", { ok: true });
  } catch (e) {
    await shot(page, "console-failure.png").catch(() => {});
    console.log(JSON.stringify({ step: "failed", error: String(e && e.stack || e), pageErrors: errors }));
    process.exitCode = 1;
  } finally {
    await context.close();
  }
})();
