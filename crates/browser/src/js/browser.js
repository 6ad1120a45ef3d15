// The `browser` global over the host's `__browser.*` functions (crates/browser/src/binding.rs):
// positional arguments, and pages as objects.
(() => {
  const raw = globalThis.__browser;
  delete globalThis.__browser;
  const call = (name, args) => raw[name](args);
  const source = (fn, args) => (typeof fn === 'function' ? `(${fn})(...${JSON.stringify(args)})` : String(fn));
  const pages = new WeakMap();
  class Page {
    constructor(id) { pages.set(this, id); }
    get id() { return pages.get(this); }
    goto(url) { return call('goto', { page: this.id, url }); }
    click(selector) { return call('click', { page: this.id, selector }); }
    type(selector, text) { return call('type', { page: this.id, selector, text: String(text) }); }
    evaluate(fn, ...args) { return call('evaluate', { page: this.id, expression: source(fn, args) }); }
    waitFor(selector, options = {}) { return call('waitFor', { page: this.id, selector, timeoutMs: options.timeout ?? null }); }
    content() { return call('pageContent', { page: this.id }); }
    markdown() { return call('pageMarkdown', { page: this.id }); }
    links() { return call('pageLinks', { page: this.id }); }
    scrape(selectors) { return call('pageScrape', { page: this.id, selectors: [].concat(selectors) }); }
    screenshot(options = {}) { return call('pageScreenshot', { page: this.id, fullPage: !!options.fullPage }); }
    pdf() { return call('pagePdf', { page: this.id }); }
    url() { return call('url', { page: this.id }); }
    blocked() { return call('blocked', { page: this.id }); }
    close() { return call('close', { page: this.id }); }
    get cdp() { return { send: (method, params = {}) => call('cdp', { page: this.id, method, params }) }; }
  }
  const browser = Object.freeze({
    markdown: (url) => call('markdown', { url }),
    content: (url) => call('content', { url }),
    links: (url) => call('links', { url }),
    scrape: (url, selectors) => call('scrape', { url, selectors: [].concat(selectors) }),
    screenshot: (url, options = {}) => call('screenshot', { url, fullPage: !!options.fullPage }),
    pdf: (url) => call('pdf', { url }),
    open: async (url) => new Page(await call('open', { url: url ?? null })),
  });
  Object.defineProperty(globalThis, 'browser', { value: browser, enumerable: false, configurable: false, writable: false });
})();
