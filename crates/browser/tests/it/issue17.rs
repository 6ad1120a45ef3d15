//! Issue 17, the browser rung: quick actions, the page API, the fetch policy over every
//! request, and a browser that dies.

use crate::given::{
    error_code, given_browser, given_fetcher, given_sites, result, run, run_keeping,
};
use base64::Engine as _;
use codemode::egress::{FetchPolicy, Fetcher, HostRule};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn issue17_markdown_of_a_page() {
    let (site, _) = given_sites().await;
    let browser = given_browser();
    let code = format!("await browser.markdown({:?})", site.url("/"));
    let markdown = result(&run(&browser, given_fetcher(&site), &code).await);
    let markdown = markdown.as_str().unwrap();
    assert!(markdown.starts_with("# Islands"), "{markdown}");
    assert!(
        markdown.contains("An **island** is land surrounded by water."),
        "{markdown}"
    );
    assert!(markdown.contains("- Skye\n- Mull"), "{markdown}");
    assert!(
        markdown.contains(&format!("[the form]({})", site.url("/form"))),
        "{markdown}"
    );
    assert!(
        markdown.contains("| Name | Area |\n| --- | --- |\n| Skye | 1656 |"),
        "{markdown}"
    );
    // The navigation outside <main> is not the page's content.
    assert!(!markdown.contains("Form]"), "{markdown}");
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_scrape_and_links() {
    let (site, _) = given_sites().await;
    let browser = given_browser();
    let code = format!(
        "const s = await browser.scrape({url:?}, ['h1', 'li']); const l = await browser.links({url:?}); return {{ s, l }}",
        url = site.url("/")
    );
    let got = result(&run(&browser, given_fetcher(&site), &code).await);
    assert_eq!(got["s"][0]["selector"], "h1");
    assert_eq!(got["s"][0]["results"][0]["text"], "Islands");
    let items: Vec<_> = got["s"][1]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(items, ["Skye", "Mull"]);
    assert!(
        got["l"]
            .as_array()
            .unwrap()
            .contains(&json!({"text": "the form", "href": site.url("/form")}))
    );
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_click_type_and_read_the_result() {
    let (site, _) = given_sites().await;
    let browser = given_browser();
    let code = format!(
        r#"const page = await browser.open({url:?});
           await page.type('#name', 'Ada');
           await page.click('#go');
           await page.waitFor('#out:not(:empty)');
           const out = await page.evaluate(() => document.getElementById('out').textContent);
           const sum = await page.evaluate((a, b) => a + b, 2, 3);
           const raw = await page.cdp.send('Runtime.evaluate', {{ expression: '6 * 7', returnByValue: true }});
           await page.close();
           return {{ out, sum, raw: raw.result.value }}"#,
        url = site.url("/form")
    );
    let got = result(&run(&browser, given_fetcher(&site), &code).await);
    assert_eq!(got, json!({"out": "Hello, Ada", "sum": 5, "raw": 42}));
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_screenshot_is_a_png_and_pdf_is_a_pdf() {
    let (site, _) = given_sites().await;
    let browser = given_browser();
    let code = format!(
        "const shot = await browser.screenshot({url:?}, {{ fullPage: true }}); const pdf = await browser.pdf({url:?}); return {{ shot, pdf }}",
        url = site.url("/")
    );
    let got = result(&run(&browser, given_fetcher(&site), &code).await);
    assert_eq!(got["shot"]["mimeType"], "image/png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(got["shot"]["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(got["shot"]["bytes"], png.len());
    // The IHDR chunk: a real image of the page's width (1280 CSS pixels at scale 1).
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert!(width > 100, "width {width}");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(got["pdf"]["base64"].as_str().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_a_redirect_to_a_host_not_allowed_is_blocked() {
    let (site, other) = given_sites().await;
    let browser = given_browser();
    // A redirect within the site is followed, each hop checked.
    let code = format!(
        "const p = await browser.open(); const r = await p.goto({:?}); return r",
        site.url("/hop")
    );
    let got = result(&run(&browser, given_fetcher(&site), &code).await);
    assert_eq!(got["url"], site.url("/form"));
    assert_eq!(got["status"], 200);
    // One elsewhere is not.
    let code = format!("await browser.markdown({:?})", site.url("/away"));
    let outcome = run(&browser, given_fetcher(&site), &code).await;
    assert_eq!(
        error_code(&outcome),
        "HOST_NOT_ALLOWED",
        "{:?}",
        outcome.error
    );
    assert_eq!(other.hits(), 0, "the other host was reached");
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_a_subresource_from_a_host_not_allowed_is_blocked() {
    let (site, other) = given_sites().await;
    let browser = given_browser();
    let code = format!(
        r#"const page = await browser.open({:?});
           await page.waitFor('body[data-failed]');
           return page.blocked()"#,
        site.url("/pictures")
    );
    let blocked = result(&run(&browser, given_fetcher(&site), &code).await);
    assert_eq!(blocked[0]["url"], other.url("/pixel.png"));
    assert_eq!(blocked[0]["code"], "HOST_NOT_ALLOWED");
    assert_eq!(blocked[0]["resource"], "Image");
    assert_eq!(other.hits(), 0, "the other host was reached");
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_file_urls_private_addresses_and_escaping_cdp_calls_are_refused() {
    let (site, _) = given_sites().await;
    let browser = given_browser();
    let outcome = run(
        &browser,
        given_fetcher(&site),
        "await browser.markdown('file:///etc/passwd')",
    )
    .await;
    assert_eq!(error_code(&outcome), "SCHEME_NOT_ALLOWED");
    // The host is allowed, but it is a loopback address and the policy keeps private ones out.
    let public_only = Arc::new(
        Fetcher::new(FetchPolicy {
            allowed_hosts: vec![HostRule::new(format!("127.0.0.1:{}", site.port))],
            ..FetchPolicy::default()
        })
        .unwrap(),
    );
    let outcome = run(
        &browser,
        public_only,
        &format!("await browser.content({:?})", site.url("/")),
    )
    .await;
    assert_eq!(
        error_code(&outcome),
        "PRIVATE_ADDRESS",
        "{:?}",
        outcome.error
    );
    for call in [
        "page.cdp.send('Fetch.disable')",
        "page.cdp.send('Target.createTarget', { url: 'about:blank' })",
        "page.cdp.send('DOM.setFileInputFiles', { files: ['/etc/passwd'] })",
        "page.cdp.send('Page.navigate', { url: 'file:///etc/passwd' })",
    ] {
        let code = format!("const page = await browser.open(); return await {call}");
        let outcome = run(&browser, given_fetcher(&site), &code).await;
        let code = error_code(&outcome);
        assert!(
            code == "CDP_NOT_ALLOWED" || code == "SCHEME_NOT_ALLOWED",
            "{call}: {code}"
        );
    }
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_a_browser_killed_mid_execution_fails_clearly_and_the_next_execution_works() {
    let (site, _) = given_sites().await;
    let browser = given_browser();
    browser.warm_up().await.unwrap();
    let group = browser.process_group().await.unwrap();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let group = rustix::process::Pid::from_raw(group as i32).unwrap();
        rustix::process::kill_process_group(group, rustix::process::Signal::KILL).unwrap();
    });
    let code = format!(
        "const page = await browser.open({:?}); await page.waitFor('#never', {{ timeout: 30000 }})",
        site.url("/form")
    );
    let (outcome, used) = run_keeping(&browser, given_fetcher(&site), &code).await;
    killer.await.unwrap();
    used.close().await;
    assert_eq!(error_code(&outcome), "BROWSER_GONE", "{:?}", outcome.error);
    let code = format!("await browser.markdown({:?})", site.url("/"));
    let markdown = result(&run(&browser, given_fetcher(&site), &code).await);
    assert!(markdown.as_str().unwrap().starts_with("# Islands"));
    assert_eq!(browser.starts(), 2);
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_chromium_dying_alone_takes_every_process_of_its_group_along() {
    let (site, _) = given_sites().await;
    let browser = given_browser();
    browser.warm_up().await.unwrap();
    let group = browser.process_group().await.unwrap();
    let pid = browser.pid().await.unwrap();
    assert_ne!(pid, group, "Chromium runs under islet's watcher");
    // Only Chromium's first process: the watcher kills the rest (renderers, zygotes) and
    // itself, so nothing of this browser is left and islet sees it is gone.
    let first = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(first, rustix::process::Signal::KILL).unwrap();
    let mut left = processes_in_group(group);
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = processes_in_group(group);
    }
    assert_eq!(left, 0, "processes of the dead browser are left");
    let code = format!("await browser.markdown({:?})", site.url("/"));
    let markdown = result(&run(&browser, given_fetcher(&site), &code).await);
    assert!(markdown.as_str().unwrap().starts_with("# Islands"));
    assert_eq!(browser.starts(), 2);
    browser.shutdown().await;
}

#[tokio::test]
async fn issue17_no_chromium_process_is_left_after_shutdown() {
    let (site, _) = given_sites().await;
    let browser = given_browser();
    let code = format!("await browser.content({:?})", site.url("/"));
    result(&run(&browser, given_fetcher(&site), &code).await);
    let group = browser.process_group().await.unwrap();
    assert!(
        processes_in_group(group) > 1,
        "Chromium runs several processes"
    );
    browser.shutdown().await;
    // Killed processes are reaped by their parents (or by init) shortly after.
    for _ in 0..100 {
        if processes_in_group(group) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{} Chromium processes are left", processes_in_group(group));
}

/// Live (not zombie) processes in process group `group`.
fn processes_in_group(group: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<_> = rest.split_whitespace().collect();
            fields.first() != Some(&"Z") && fields.get(2) == Some(&group.to_string().as_str())
        })
        .count()
}
