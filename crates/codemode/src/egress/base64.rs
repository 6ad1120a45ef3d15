//! Standard base64 (RFC 4648) for binary bodies crossing the JSON boundary with `fetch.js`,
//! which encodes with `btoa` and decodes with `atob`: the same alphabet, and decoding as
//! forgiving as `atob` (HTML's "forgiving-base64 decode") and no more.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

/// After whitespace and the padding are removed, `atob` takes any complete groups and a
/// final group of two or three characters whose unused low bits may be anything.
const FORGIVING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// `None` where `atob` would throw: ASCII whitespace is ignored, and `=` is accepted only as
/// one or two characters of padding completing a group of four.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    const ASCII_WHITESPACE: [char; 5] = ['\t', '\n', '\x0c', '\r', ' '];
    let compact;
    let mut text = if text.contains(ASCII_WHITESPACE) {
        compact = text.replace(ASCII_WHITESPACE, "");
        compact.as_str()
    } else {
        text
    };
    if text.len() % 4 == 0 {
        text = text
            .strip_suffix("==")
            .or_else(|| text.strip_suffix('='))
            .unwrap_or(text);
    }
    FORGIVING.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length() {
        let data: Vec<u8> = (0..=255).collect();
        for len in 0..10 {
            let encoded = encode(&data[..len]);
            assert_eq!(decode(&encoded).as_deref(), Some(&data[..len]));
        }
        assert_eq!(encode(&[0, 1, 255]), "AAH/");
        assert_eq!(encode(b"hi"), "aGk=");
    }

    /// The cases of HTML's forgiving-base64 decode (what `atob` accepts and refuses).
    #[test]
    fn decodes_exactly_what_atob_decodes() {
        let ok: &[(&str, &[u8])] = &[
            ("aGk", b"hi"),
            ("aGk=", b"hi"),
            ("aG k=\n", b"hi"),
            ("YQ==", b"a"),
            ("YQ", b"a"),
            ("YR==", b"a"), // unused low bits need not be zero
            ("", b""),
        ];
        for (text, bytes) in ok {
            assert_eq!(decode(text).as_deref(), Some(*bytes), "{text:?}");
        }
        for bad in [
            "a!",
            "a",
            "aGk==",
            "YQ=",
            "Y===",
            "=YQ",
            "Y=Q=",
            "YQ===",
            "aGk\u{a0}",
        ] {
            assert_eq!(
                decode(bad),
                None,
                "{bad:?} must be refused as atob refuses it"
            );
        }
    }
}
