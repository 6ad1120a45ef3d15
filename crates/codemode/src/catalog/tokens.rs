//! Token counts in OpenAI's `o200k_base` encoding: what a tool definition costs a model.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

/// The encoder, built once (parsing the vocabulary takes ~100 ms). `None` if the
/// embedded vocabulary failed to load, which only a broken build can cause.
fn encoder() -> Option<&'static CoreBPE> {
    static ENCODER: OnceLock<Option<CoreBPE>> = OnceLock::new();
    ENCODER
        .get_or_init(|| match tiktoken_rs::o200k_base() {
            Ok(bpe) => Some(bpe),
            Err(error) => {
                tracing::error!(%error, "o200k_base failed to load; estimating tokens");
                None
            }
        })
        .as_ref()
}

/// Number of `o200k_base` tokens in `text`. Special-token strings such as
/// `<|endoftext|>` count as the ordinary text they are.
pub fn count(text: &str) -> usize {
    match encoder() {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        // ~4 bytes per token in English and JSON: good enough for a report.
        None => text.len().div_ceil(4),
    }
}
