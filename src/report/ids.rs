//! Patient and accession identifiers in the report: salted keys by default, the plain
//! values only on request (`--include-ids`). Keys let rows from one cohort be joined
//! without exposing the identifiers; whoever holds the salt can re-link them.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// Bytes of random salt generated when none is given.
pub const SALT_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct IdPolicy {
    /// Put PatientID and AccessionNumber in the report verbatim.
    pub include: bool,
    /// HMAC key of the salted keys.
    pub salt: Vec<u8>,
}

impl Default for IdPolicy {
    fn default() -> Self {
        IdPolicy {
            include: false,
            salt: b"foramen-default-salt".to_vec(),
        }
    }
}

/// The identifiers of one series as written in the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SeriesIds {
    /// `hmac-sha256:` + 16 hex digits of HMAC-SHA256(salt, PatientID).
    pub patient_key: Option<String>,
    pub accession_key: Option<String>,
    /// Only with `--include-ids`.
    pub patient_id: Option<String>,
    pub accession_number: Option<String>,
}

impl IdPolicy {
    /// Keyed hash of one identifier; 64 bits are plenty to join cohort rows.
    pub fn key(&self, value: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.salt)
            .expect("HMAC takes keys of any length");
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("hmac-sha256:{hex}")
    }

    pub fn series_ids(&self, patient_id: Option<&str>, accession: Option<&str>) -> SeriesIds {
        SeriesIds {
            patient_key: patient_id.map(|v| self.key(v)),
            accession_key: accession.map(|v| self.key(v)),
            patient_id: patient_id.filter(|_| self.include).map(str::to_string),
            accession_number: accession.filter(|_| self.include).map(str::to_string),
        }
    }
}

/// Parses a salt given as text (hex or any string); empty salts are refused.
pub fn salt_from_text(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.as_bytes().to_vec())
}

/// Name of the salt file kept in an output folder when no salt is given.
pub const SALT_FILE: &str = ".foramen-id-salt";

/// The salt of an output folder: read from `dir/.foramen-id-salt`, or created there
/// (random, owner-only) on first use, so re-runs into the same folder give the same keys.
pub fn folder_salt(dir: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let path = dir.join(SALT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => salt_from_text(&text)
            .ok_or_else(|| std::io::Error::other(format!("{} is empty", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::RngCore as _;
            let mut bytes = [0u8; SALT_BYTES];
            rand::rng().fill_bytes(&mut bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            crate::atomic_file::write_atomic_mode(&path, 0o600, |w| w.write_all(hex.as_bytes()))?;
            // Re-read: a concurrent run may have renamed its own salt over ours.
            let text = std::fs::read_to_string(&path)?;
            salt_from_text(&text)
                .ok_or_else(|| std::io::Error::other(format!("{} is empty", path.display())))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_salt_and_value_and_hide_the_value() {
        let a = IdPolicy {
            include: false,
            salt: b"one".to_vec(),
        };
        let b = IdPolicy {
            include: false,
            salt: b"two".to_vec(),
        };
        assert_eq!(a.key("12345"), a.key("12345"));
        assert_ne!(a.key("12345"), a.key("12346"));
        assert_ne!(a.key("12345"), b.key("12345"));
        assert!(!a.key("12345").contains("12345"));
        let ids = a.series_ids(Some("12345"), Some("ACC9"));
        assert_eq!(ids.patient_id, None);
        assert_eq!(ids.accession_number, None);
        assert!(ids.patient_key.unwrap().starts_with("hmac-sha256:"));
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let p = IdPolicy {
            include: false,
            salt: b"Jefe".to_vec(),
        };
        assert_eq!(
            p.key("what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e"
        );
    }

    #[test]
    fn folder_salt_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = folder_salt(dir.path()).unwrap();
        let b = folder_salt(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2 * SALT_BYTES);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(a, folder_salt(other.path()).unwrap());
    }

    #[test]
    fn included_ids_are_verbatim() {
        let p = IdPolicy {
            include: true,
            salt: b"s".to_vec(),
        };
        let ids = p.series_ids(Some("P1"), None);
        assert_eq!(ids.patient_id.as_deref(), Some("P1"));
        assert_eq!(ids.accession_key, None);
    }
}
