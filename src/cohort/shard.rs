//! Deterministic partition of a cohort's studies into `N` shards.

use sha2::{Digest as _, Sha256};

/// Shard `k` of `n` (`0 <= k < n`), as given to `--shard K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("--shard must be K/N with whole numbers, e.g. 0/4 (got {0:?})")]
    Syntax(String),
    #[error("--shard {k}/{n}: N must be at least 1 and K one of 0..N-1")]
    Range { k: u32, n: u32 },
}

impl std::str::FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(syntax)?;
        let k: u32 = k.trim().parse().map_err(|_| syntax())?;
        let n: u32 = n.trim().parse().map_err(|_| syntax())?;
        if n == 0 || k >= n {
            return Err(ShardError::Range { k, n });
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl Shard {
    pub fn contains(&self, study_uid: &str) -> bool {
        shard_of(study_uid, self.n) == self.k
    }
}

/// The shard a study belongs to: the first 8 bytes of SHA-256(UID), big-endian, mod `n`.
/// A fixed, documented function (not std's randomised hasher), so that every machine
/// and every version partitions a cohort the same way.
pub fn shard_of(study_uid: &str, n: u32) -> u32 {
    let digest = Sha256::digest(study_uid.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) % u64::from(n.max(1))) as u32
}

/// `sha256:` + hex SHA-256 of the sorted StudyInstanceUIDs, each followed by `\n`.
pub fn studies_digest<'a>(sorted_uids: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for uid in sorted_uids {
        h.update(uid.as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{}", hex(&h.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("1/3".parse(), Ok(Shard { k: 1, n: 3 }));
        assert_eq!("0/1".parse(), Ok(Shard { k: 0, n: 1 }));
        assert!(matches!(
            "3/3".parse::<Shard>(),
            Err(ShardError::Range { .. })
        ));
        assert!(matches!(
            "0/0".parse::<Shard>(),
            Err(ShardError::Range { .. })
        ));
        assert!(matches!("a/3".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!(
            "-1/3".parse::<Shard>(),
            Err(ShardError::Syntax(_))
        ));
        assert!(matches!("2".parse::<Shard>(), Err(ShardError::Syntax(_))));
    }

    #[test]
    fn partition_is_the_documented_hash() {
        // SHA-256("abc") = ba7816bf8f01cfea..., whose first 8 bytes are 0xba7816bf8f01cfea.
        let head: u64 = 0xba78_16bf_8f01_cfea;
        for n in [1u32, 2, 3, 7, 1000] {
            assert_eq!(u64::from(shard_of("abc", n)), head % u64::from(n));
        }
        // Every study lands in exactly one shard.
        for uid in ["1.2.3", "2.25.42", ""] {
            let owners: Vec<u32> = (0..5)
                .filter(|&k| Shard { k, n: 5 }.contains(uid))
                .collect();
            assert_eq!(owners.len(), 1);
        }
    }
}
