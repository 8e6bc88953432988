//! DICOM UIDs under the `2.25` root (ISO/IEC 9834-8: a UUID as a decimal integer).

use sha2::{Digest, Sha256};

/// A UID derived deterministically from `parts`: `2.25.<first 128 bits of SHA-256>`.
///
/// Used for phantom series (so regenerated fixtures are byte-identical) and for
/// synthesising series keys when a file lacks its UIDs.
pub fn derived_uid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

/// Whether `s` is a syntactically valid UID (PS3.5 9.1): digits and dots, no empty or
/// zero-padded component, at most 64 characters.
pub fn is_valid_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_uids_are_valid_stable_and_distinct() {
        let a = derived_uid(&["study", "1"]);
        assert!(is_valid_uid(&a), "{a}");
        assert_eq!(a, derived_uid(&["study", "1"]));
        assert_ne!(a, derived_uid(&["study", "2"]));
        // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(derived_uid(&["ab", "c"]), derived_uid(&["a", "bc"]));
    }

    #[test]
    fn uid_syntax() {
        assert!(is_valid_uid("1.2.840.10008.1.2.1"));
        assert!(is_valid_uid("2.25.0"));
        assert!(!is_valid_uid("1.02.3"));
        assert!(!is_valid_uid("1..2"));
        assert!(!is_valid_uid("1.2.a"));
        assert!(!is_valid_uid(""));
        assert!(!is_valid_uid(&"1.".repeat(40)));
    }
}
