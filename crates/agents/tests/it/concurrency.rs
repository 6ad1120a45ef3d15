//! One mailbox per agent: no interleaving within an agent, parallelism across agents.

use crate::support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_increments_of_one_agent_all_count() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("counter.js", COUNTER)]).await;
    let calls = (0..100).map(|_| {
        let host = g.host.clone();
        tokio::spawn(async move {
            host.call("Counter", "shared", "increment", vec![json!(1)])
                .await
        })
    });
    let mut seen: Vec<i64> = Vec::new();
    for call in calls {
        seen.push(call.await.unwrap().unwrap().as_i64().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=100).collect::<Vec<_>>(),
        "each call saw the previous one's write"
    );
    assert_eq!(
        g.host.state("Counter", "shared").await.unwrap(),
        json!({"count": 100})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_agents_called_in_parallel_all_progress() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("counter.js", COUNTER)]).await;
    let calls: Vec<_> = (0..1_000)
        .map(|i| {
            let host = g.host.clone();
            tokio::spawn(async move {
                host.call(
                    "Counter",
                    &format!("agent-{i}"),
                    "increment",
                    vec![json!(i)],
                )
                .await
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), json!(i));
    }
    assert_eq!(
        g.host.list(Some("Counter"), None, 2_000).unwrap().len(),
        1_000
    );
}

/// Runs in a process of its own: the resident set it measures is the whole process's, which
/// the other tests of this binary, running alongside, would grow too (it failed under load).
#[test]
fn ten_thousand_agents_with_hibernation_keep_memory_bounded() {
    const ALONE: &str = "ISLET_TEST_ALONE";
    if std::env::var_os(ALONE).is_some() {
        return tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(ten_thousand_agents_measured());
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "concurrency::ten_thousand_agents_with_hibernation_keep_memory_bounded",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(ALONE, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The filter matched this test (a renamed module would run nothing and pass).
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn ten_thousand_agents_measured() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host_at(
        dir.path(),
        &[("counter.js", COUNTER)],
        0,
        quick_hibernation(),
    )
    .await;
    let create = |range: std::ops::Range<usize>| {
        let host = g.host.clone();
        async move {
            for chunk in range.collect::<Vec<_>>().chunks(200) {
                let calls: Vec<_> = chunk
                    .iter()
                    .map(|i| {
                        let host = host.clone();
                        let name = format!("n{i}");
                        tokio::spawn(async move {
                            host.call("Counter", &name, "increment", vec![]).await
                        })
                    })
                    .collect();
                for call in calls {
                    call.await.unwrap().unwrap();
                }
                // At most one chunk active at a time, however slow hibernation is on a busy
                // machine: the resident set keeps its high-water mark, so a higher peak of
                // open agents would read as growth that hibernated agents do not hold.
                assert!(
                    eventually(|| host.active_count() == 0).await,
                    "all hibernate"
                );
            }
        }
    };
    create(0..1_000).await;
    assert!(eventually(|| g.host.active_count() == 0).await);
    let after_first = rss_bytes();
    create(1_000..10_000).await;
    assert!(
        eventually(|| g.host.active_count() == 0).await,
        "all hibernate"
    );
    let after_all = rss_bytes();
    let growth = after_all.saturating_sub(after_first);
    // Nine thousand more agents, all hibernated: what remains is allocator slack, not agents
    // (an active agent holds a database connection and its page cache, ~100 KB or more).
    assert!(
        growth < 96 << 20,
        "RSS grew by {} MiB for 9,000 hibernated agents ({} MiB after 1,000)",
        growth >> 20,
        after_first >> 20
    );
    assert_eq!(g.host.list(None, None, 20_000).unwrap().len(), 10_000);
}

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}
