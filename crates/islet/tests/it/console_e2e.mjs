// The console (issue 20) end to end in real Chromium through Playwright, against a real
// `islet serve` the Rust test `issue20_console_end_to_end_in_playwright` started with the
// example agents and the scripted model. The flow is the one a person walks: a wrong token,
// the login, the agents, a method call and its state live, a chat with a tool card,
// regenerate and branches, fork, search, a workspace file, forget a memory, a failed
// execution, HTML in agent data as text, the keyboard only, 1280×800 and phone width.
//
// Environment: ISLET_URL (the server's base URL), ISLET_TOKEN, ISLET_SCREENSHOTS (where the
// PNGs go; default target/console-screenshots/playwright), ISLET_CHROMIUM (default
// /usr/bin/chromium: Debian's, Playwright never downloads a browser).
// Prints `screenshot: PATH` per view and one `first-load: {json}` line (bytes transferred,
// time to interactive); exits 1 with the failed step and why on any failed check.
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const base = process.env.ISLET_URL;
const token = process.env.ISLET_TOKEN;
if (!base || !token) {
  console.error("console_e2e: set ISLET_URL and ISLET_TOKEN (the Rust test does)");
  process.exit(2);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const shots = process.env.ISLET_SCREENSHOTS ?? join(root, "target/console-screenshots/playwright");
const executablePath = process.env.ISLET_CHROMIUM ?? "/usr/bin/chromium";
mkdirSync(shots, { recursive: true });

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const WAIT = 20_000;

class CheckFailed extends Error {}
const check = (ok, message) => {
  if (!ok) throw new CheckFailed(message);
};

let current = "start";
let lastPage = null;
async function step(name, body) {
  current = name;
  await body();
}

/** Waits until the text of `selector` contains `text`; on timeout, says what it was. */
async function waitText(page, selector, text, timeout = WAIT) {
  try {
    await page.waitForFunction(
      ([s, t]) => document.querySelector(s)?.textContent.includes(t),
      [selector, text],
      { timeout },
    );
  } catch {
    const [now, error] = await page.evaluate((s) => [
      document.querySelector(s)?.textContent ?? null,
      document.querySelector("#error")?.textContent ?? null,
    ], selector);
    throw new CheckFailed(`\`${selector}\` never contained ${JSON.stringify(text)}; it is ${JSON.stringify(now)}; the page's error: ${JSON.stringify(error)}`);
  }
}

/** Waits until `fn(arg)` in the page is truthy; on timeout, fails with `what`. */
async function waitTrue(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT });
  } catch {
    throw new CheckFailed(`never true: ${what}`);
  }
}

const textOf = (page, selector) => page.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
const count = (page, selector) => page.evaluate((s) => document.querySelectorAll(s).length, selector);
const go = (page, hash) => page.evaluate((h) => { location.hash = h; }, hash);

/** The viewport as a person sees it; `fullPage` for a phone's whole scrolling page. */
async function screenshot(page, name, fullPage = false) {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage });
  console.log(`screenshot: ${path}`);
}

/** Nothing is wider than the viewport (no sideways scrolling at this width). */
async function fitsWidth(page, width) {
  const [scroll, widest] = await page.evaluate((w) => [
    document.documentElement.scrollWidth,
    // The innermost elements reaching past the viewport, to say what to fix.
    [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > w + 1 && ![...e.children].some((c) => c.getBoundingClientRect().right > w + 1))
      .slice(0, 3)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}${e.className ? `.${[...e.classList].join(".")}` : ""} (right edge ${Math.round(e.getBoundingClientRect().right)} px)`),
  ], width);
  check(scroll <= width, `the page is ${scroll} px wide at a ${width} px viewport; past its edge: ${widest.join(", ")}`);
}

/** The API, as another client than the page (Node's fetch with the token). */
async function api(path, body) {
  const response = await fetch(`${base}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  check(response.ok, `${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
// A hung step must not hang the Rust test: Playwright's own timeouts cover each wait, this
// covers the whole run.
const watchdog = setTimeout(() => {
  console.error(`console_e2e: FAILED at step "${current}": the run took over 4 minutes`);
  process.exit(1);
}, 240_000);

/** A fresh context (no cache, no session storage) and its page. */
async function freshPage(options = { viewport: DESKTOP }) {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  lastPage = page;
  // Any alert, confirm or prompt would be a script the console did not mean to run.
  page.on("dialog", (dialog) => {
    console.error(`console_e2e: unexpected dialog: ${dialog.message()}`);
    process.exitCode = 1;
    dialog.dismiss();
  });
  return { context, page };
}

try {
  await step("first load: bytes and time to interactive", async () => {
    const { context, page } = await freshPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    const urls = new Map();
    let bytes = 0;
    cdp.on("Network.responseReceived", (e) => urls.set(e.requestId, new URL(e.response.url).pathname));
    cdp.on("Network.loadingFinished", (e) => { bytes += e.encodedDataLength; });
    await page.goto(`${base}/`);
    // In the page's own clock: the login form shown by the console's script (the HTML has
    // it hidden until the script runs and wires it).
    const loginUsableMs = await (await page.waitForFunction(() => {
      const input = document.querySelector("#login:not([hidden]) #token");
      return input && input.offsetParent !== null && !input.disabled ? performance.now() : false;
    }, null, { polling: "raf" })).jsonValue();
    const assetsBytes = bytes;
    await page.evaluate(() => document.querySelector("#login-form").addEventListener("submit", () => {
      window.__submittedAt = performance.now();
    }, { capture: true }));
    await page.fill("#token", token);
    await page.press("#token", "Enter");
    const listedAt = await (await page.waitForFunction(
      () => document.querySelector("[data-agent]") ? performance.now() : false,
      null, { polling: "raf" },
    )).jsonValue();
    const agentListMs = listedAt - await page.evaluate(() => window.__submittedAt);
    // Responses still being read when the list showed (none expected) are counted too.
    await page.waitForTimeout(200);
    const first = {
      bytes,
      assetsBytes,
      requests: [...urls.values()],
      loginUsableMs: Math.round(loginUsableMs),
      agentListMs: Math.round(agentListMs),
      interactiveMs: Math.round(loginUsableMs + agentListMs),
    };
    console.log(`first-load: ${JSON.stringify(first)}`);
    await context.close();
  });

  await step("a wrong token shows the login again and no data", async () => {
    const { context, page } = await freshPage();
    const leaked = [];
    page.on("response", (r) => {
      const path = new URL(r.url()).pathname;
      if (r.ok() && path !== "/" && !path.startsWith("/console/") && path !== "/favicon.ico") leaked.push(`${r.status()} ${path}`);
    });
    await page.goto(`${base}/`);
    await page.fill("#login:not([hidden]) #token", "not-the-token");
    await page.press("#token", "Enter");
    await waitText(page, "#login-error", "refused that token");
    check(await page.evaluate(() => document.querySelector("#app").hidden), "the app shows after a wrong token");
    check(await page.evaluate(() => sessionStorage.getItem("islet-token")) === null, "a refused token is kept");
    await screenshot(page, "login-refused");
    // A view's address without a token is the login, not the agent.
    await page.goto(`${base}/#/agents/Shown/x`);
    await page.waitForSelector("#login:not([hidden]) #token");
    await page.waitForTimeout(300);
    // All the page's text, hidden parts too: nothing read with a token may be anywhere in it.
    const body = await page.evaluate(() => document.body.textContent);
    for (const data of ["Shown", "Counter", "alice", "pwned", "count"]) {
      check(!body.includes(data), `${JSON.stringify(data)} shows without the token: ${body}`);
    }
    check(leaked.length === 0, `the API answered without the token: ${leaked.join(", ")}`);
    await screenshot(page, "login");
    await context.close();
  });

  const { page } = await freshPage();

  await step("log in with the keyboard and see the example agents", async () => {
    await page.goto(`${base}/`);
    // The login focuses the token field: type it and press Enter, no mouse.
    await waitTrue(page, "the token field has the focus", () => document.activeElement?.id === "token");
    await page.keyboard.type(token);
    await page.keyboard.press("Enter");
    for (const agent of ["Counter/alice", "Notes/alice", "Shown/x"]) {
      await page.waitForSelector(`[data-agent='${agent}']`);
    }
    check(await page.evaluate(() => sessionStorage.getItem("islet-token")) !== null, "the token is not kept in the tab");
    check(await page.evaluate(() => localStorage.length) === 0, "something went to local storage");
    await fitsWidth(page, DESKTOP.width);
    await screenshot(page, "agents");
  });

  await step("reach the agent list and open an agent with the keyboard only", async () => {
    let reached = null;
    for (let presses = 0; presses < 40 && reached !== "Counter/alice"; presses++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement?.dataset?.agent ?? null);
    }
    check(reached === "Counter/alice", "40 presses of Tab never reached Counter/alice in the agent list");
    check(await page.evaluate(() => document.activeElement.matches(":focus-visible")), "the focused agent shows no focus ring");
    await page.keyboard.press("Enter");
    await waitTrue(page, "Enter opened Counter/alice", () => location.hash === "#/agents/Counter/alice");
    await waitText(page, "#state", '"count": 5');
  });

  await step("call a method and watch the state update live", async () => {
    await waitText(page, "#state-status", "Live");
    // The page stays as it is (no reload): only the event stream can bring a change.
    await page.evaluate(() => { window.__samePage = true; });
    await page.fill("#call-method", "increment");
    await page.fill("#call-args", "[2]");
    await page.click("#call-form button[type=submit]");
    await waitText(page, "#call-result", "→ 7");
    await waitText(page, "#state", '"count": 7');
    // A call from another client shows too.
    await api("/agents/Counter/alice/increment", [1]);
    await waitText(page, "#state", '"count": 8');
    check(await page.evaluate(() => window.__samePage === true), "the page reloaded");
    await fitsWidth(page, DESKTOP.width);
    await screenshot(page, "agent-state");
  });

  await step("an agent state containing <script> renders as text", async () => {
    await go(page, "#/agents/Shown/x");
    await waitText(page, "#state", "<script>window.__pwned = 1</script>");
    check(await count(page, "#agent-detail script, #agent-detail img, #agent-detail b") === 0,
      "agent state became elements");
    check(await page.evaluate(() => window.__pwned ?? null) === null, "a script from agent state ran");
    await screenshot(page, "agent-html-as-text");
  });

  let firstSession = null;
  await step("chat with a Think agent and see a tool card", async () => {
    await go(page, "#/chat/Assistant/me");
    await page.waitForSelector("#view-chat:not([hidden]) #chat-input");
    await page.fill("#chat-input", "Say hi in a file");
    await page.click("#send");
    await waitText(page, "#messages", "Wrote hello.txt.");
    await waitText(page, ".tool[data-tool='execute'] .tool-input", "workspace.write");
    await waitText(page, ".tool[data-tool='execute'] .tool-output", "written");
    await waitText(page, ".tool[data-tool='execute'] h3", "done in");
    await waitTrue(page, "the address names the session", () => /^#\/chat\/Assistant\/me\/.+/.test(location.hash));
    firstSession = await page.evaluate(() => location.hash);
    check(await textOf(page, "#error") === "", `the page shows an error: ${await textOf(page, "#error")}`);
    await fitsWidth(page, DESKTOP.width);
    await screenshot(page, "chat");
  });

  await step("regenerate an answer and switch between the branches", async () => {
    await page.waitForSelector("#regenerate:not([disabled])");
    await page.click("#regenerate");
    await waitText(page, ".branch-label", "v2 of 2");
    await waitText(page, "#messages", "Second answer.");
    await screenshot(page, "chat-branches");
    await page.click(".branch-prev");
    await waitText(page, ".branch-label", "v1 of 2");
    await waitText(page, "#messages", "Wrote hello.txt.");
    check(!(await textOf(page, "#messages")).includes("Second answer."), "v1 still shows the second answer");
    await page.click(".branch-next");
    await waitText(page, ".branch-label", "v2 of 2");
    await waitText(page, "#messages", "Second answer.");
    check(!(await textOf(page, "#messages")).includes("Wrote hello.txt."), "v2 still shows the first answer");
  });

  await step("fork from the question", async () => {
    await page.click("#messages .msg.user .fork");
    await waitTrue(page, "the fork opened a new session",
      (before) => location.hash !== before && location.hash.startsWith("#/chat/Assistant/me/"), firstSession);
    await waitTrue(page, "two sessions are listed", () => document.querySelectorAll("#session-list li button").length === 2);
    // The fork holds the history up to the question, not the answers after it.
    await waitTrue(page, "the fork shows the question and no answer",
      () => document.querySelector("#messages .msg.user")?.textContent.includes("Say hi in a file")
        && !document.querySelector("#messages .msg.assistant"));
    check(!(await textOf(page, "#messages")).includes("Second answer."), "the fork holds the answer after its fork point");
  });

  await step("search across sessions", async () => {
    // From the fork, which does not hold it: a hit opens the session (and branch) it is in.
    await page.fill("#session-search", "second");
    await page.click("#session-search-form button[type=submit]");
    await waitText(page, "#search-results mark", "Second");
    await page.click("#search-results [data-session]");
    await waitTrue(page, "the hit opened the first session", (first) => location.hash === first, firstSession);
    await waitText(page, "#messages", "Second answer.");
    await screenshot(page, "chat-search");
  });

  await step("open a workspace file", async () => {
    await go(page, "#/agents/Notes/alice/workspace");
    await page.click("[data-path='/notes']");
    await page.click("[data-path='/notes/todo.md']");
    await waitText(page, "#file", "- buy <b>milk</b>");
    check(await count(page, "#file b") === 0, "the file's HTML became elements");
    await fitsWidth(page, DESKTOP.width);
    await screenshot(page, "workspace");
  });

  await step("forget a memory", async () => {
    await go(page, "#/memory");
    await page.click("[data-profile='team/alice']");
    await waitText(page, "#memories", "Bob prefers tea");
    const bob = page.locator("#memories .memory", { hasText: "Bob prefers tea" });
    await bob.getByRole("button", { name: /^Forget/ }).click();
    await screenshot(page, "memory");
    await page.click(".confirm-forget");
    await waitTrue(page, "the forgotten memory left the page",
      () => ![...document.querySelectorAll("#memories .memory div")].some((d) => d.textContent === "Bob prefers tea"));
    const { memories } = await api("/memory/team/alice/list", {});
    const left = memories.map((m) => m.content);
    check(!left.includes("Bob prefers tea") && left.includes("Carol rides a <b>bike</b>"),
      `the profile holds ${JSON.stringify(left)}`);
    check(await count(page, "#memories b") === 0, "a memory's HTML became elements");
  });

  let failedExecution = null;
  await step("open a failed execution", async () => {
    await go(page, "#/executions");
    await page.waitForSelector("[data-execution]");
    await page.selectOption("#executions-outcome", "error");
    await page.click("#executions-filter button[type=submit]");
    await waitTrue(page, "only failures are listed",
      () => [...document.querySelectorAll("[data-execution]")].every((b) => b.dataset.outcome !== "ok"));
    await page.click("[data-execution][data-outcome='TypeError']");
    await waitText(page, "#execution-error", "TypeError");
    const line = await textOf(page, "#execution-code .error-line");
    check(line === "  return n.nope.deeper;", `the marked line is ${JSON.stringify(line)}`);
    check(await count(page, "#execution-code .error-pos") === 1, "the error's column is not marked");
    failedExecution = await page.evaluate(() => location.hash);
    await fitsWidth(page, DESKTOP.width);
    await screenshot(page, "executions");
  });

  await step("phone width (390×844)", async () => {
    // A phone's own tab: mobile viewport rules (the page's meta viewport), touch, a new login.
    const { page: phone } = await freshPage({ viewport: PHONE, isMobile: true, hasTouch: true });
    await phone.goto(`${base}/`);
    await phone.fill("#login:not([hidden]) #token", token);
    await phone.tap("#login-form button[type=submit]");
    await phone.waitForSelector("[data-agent='Counter/alice']");
    await fitsWidth(phone, PHONE.width);
    for (const [hash, ready, name] of [
      ["#/agents/Counter/alice", ["#state", '"count": 8'], "agents-phone"],
      [firstSession, ["#messages", "Second answer."], "chat-phone"],
      [failedExecution, ["#execution-error", "TypeError"], "executions-phone"],
      ["#/memory", ["#profile-list", "team/alice"], "memory-phone"],
    ]) {
      await go(phone, hash);
      await waitText(phone, ...ready);
      await fitsWidth(phone, PHONE.width);
      await screenshot(phone, name, true);
    }
    // The chat's buttons fit (they wrap) and answer a tap.
    await go(phone, firstSession);
    await phone.waitForSelector("#context:not([disabled])");
    await phone.tap("#context");
    await waitText(phone, "#context-system", "Be brief.");
    await fitsWidth(phone, PHONE.width);
  });
} catch (error) {
  const why = error instanceof CheckFailed ? error.message : error.stack ?? String(error);
  console.error(`console_e2e: FAILED at step "${current}": ${why}`);
  if (lastPage && !lastPage.isClosed()) {
    await screenshot(lastPage, "failure").catch(() => {});
  }
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await browser.close();
}
