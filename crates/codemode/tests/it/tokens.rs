//! o200k token counts.

use codemode::catalog::tokens::count;

#[test]
fn counts_o200k_tokens() {
    assert_eq!(count(""), 0);
    assert_eq!(count("hello world"), 2);
    // Special-token text is counted as the ordinary text it is, never rejected.
    assert!(count("<|endoftext|>") > 1);
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(1_000);
    let n = count(&long);
    assert!((9_000..=11_000).contains(&n), "{n}");
}

#[test]
fn counts_from_many_threads() {
    let counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| count("api.repos.get(input: { owner: string })")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    assert!(counts.iter().all(|&c| c == counts[0] && c > 0));
}
