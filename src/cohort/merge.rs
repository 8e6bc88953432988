//! `foramen merge`: one report from the output folders of the `--shard K/N` runs of a
//! cohort, checked for missing shards and for studies missing or reported twice.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Component, Path, PathBuf};

use super::shard::{shard_of, studies_digest};
use crate::report::ShardInfo;
use crate::report::{Provenance, Report, SCHEMA, SeriesEntry};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a foramen report: {message}", path.display())]
    NotAReport { path: PathBuf, message: String },
    #[error("{} was not written by a `foramen measure --shard K/N` run (no provenance.shard)", path.display())]
    NotAShard { path: PathBuf },
    #[error("shard {k}/{n} is given twice: {} and {}", a.display(), b.display())]
    DuplicateShard {
        k: u32,
        n: u32,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("shard(s) {missing} of {n} missing: pass the output folder of every shard 0..{}", n - 1)]
    MissingShards { missing: String, n: u32 },
    #[error("study {uid} is in two shards' outputs: {} and {}", a.display(), b.display())]
    DuplicateStudy { uid: String, a: PathBuf, b: PathBuf },
    #[error(
        "the shard outputs hold {have} studies but the input had {want} (or other ones): a shard was run on a different or changed input; re-run the shards on the same input"
    )]
    MissingStudies { have: usize, want: usize },
    #[error("the shard outputs do not belong together: {0}")]
    Inconsistent(String),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl MergeError {
    /// Whether the shard outputs themselves are incomplete or do not match (as opposed
    /// to a file that could not be read or written).
    pub fn is_inconsistency(&self) -> bool {
        !matches!(
            self,
            MergeError::Read { .. } | MergeError::NotAReport { .. } | MergeError::Write { .. }
        )
    }
}

fn read_report(dir: &Path) -> Result<(Report, ShardInfo), MergeError> {
    let path = dir.join("report.json");
    let file = std::fs::File::open(&path).map_err(|source| MergeError::Read {
        path: path.clone(),
        source,
    })?;
    let report: Report =
        serde_json::from_reader(io::BufReader::new(file)).map_err(|e| MergeError::NotAReport {
            path: path.clone(),
            message: e.to_string(),
        })?;
    if report.schema != SCHEMA {
        return Err(MergeError::NotAReport {
            message: format!("schema {} (this build reads {SCHEMA})", report.schema),
            path,
        });
    }
    let info = report
        .provenance
        .shard
        .clone()
        .ok_or(MergeError::NotAShard { path })?;
    Ok((report, info))
}

/// A path from a report that stays inside the folder it is relative to.
fn inside(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

fn copy_file(from: &Path, to: &Path) -> Result<(), MergeError> {
    let mut src = std::fs::File::open(from).map_err(|source| MergeError::Read {
        path: from.to_path_buf(),
        source,
    })?;
    crate::atomic_file::write_atomic_unsynced(to, |w| io::copy(&mut src, w).map(|_| ())).map_err(
        |source| MergeError::Write {
            path: to.to_path_buf(),
            source,
        },
    )
}

/// Merges the reports in `shard_dirs` into one equal to a single run's (apart from the
/// provenance timings), copying their QC images and mask files into `out`. The caller
/// writes report.json, measurements.csv and report.html from the returned report.
pub fn merge(shard_dirs: &[PathBuf], out: &Path) -> Result<Report, MergeError> {
    let started = std::time::SystemTime::now();
    let mut shards: Vec<(PathBuf, Report, ShardInfo)> = Vec::new();
    for dir in shard_dirs {
        let (report, info) = read_report(dir)?;
        shards.push((dir.clone(), report, info));
    }
    let Some((first_dir, first, first_info)) = shards.first() else {
        return Err(MergeError::MissingShards {
            missing: "all".into(),
            n: 1,
        });
    };
    let (first_dir, first_info) = (first_dir.clone(), first_info.clone());
    // The parts of the first report the merged one repeats.
    let head = (
        first.schema.clone(),
        first.tool.clone(),
        first.disclaimer.clone(),
        first.thresholds.clone(),
        first.provenance.clone(),
    );
    let n = first_info.n;
    for (dir, r, info) in &shards {
        let differs = |what: &str| {
            MergeError::Inconsistent(format!(
                "{} and {} differ in {what}",
                first_dir.display(),
                dir.display()
            ))
        };
        if info.n != n {
            return Err(differs("the number of shards N"));
        }
        if (info.input_studies, &info.input_digest)
            != (first_info.input_studies, &first_info.input_digest)
        {
            return Err(differs("their input (the set of studies)"));
        }
        if r.thresholds != head.3 {
            return Err(differs("grading thresholds"));
        }
        if r.provenance.identifiers != head.4.identifiers {
            return Err(differs("identifier policy (--include-ids)"));
        }
        if r.tool != head.1 {
            return Err(differs("tool version"));
        }
    }
    let mut by_k: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, (dir, _, info)) in shards.iter().enumerate() {
        if let Some(&j) = by_k.get(&info.k) {
            return Err(MergeError::DuplicateShard {
                k: info.k,
                n,
                a: shards[j].0.clone(),
                b: dir.clone(),
            });
        }
        by_k.insert(info.k, i);
    }
    let missing: Vec<String> = (0..n)
        .filter(|k| !by_k.contains_key(k))
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::MissingShards {
            missing: missing.join(", "),
            n,
        });
    }

    // Studies: each in exactly one shard, the one its UID hashes to.
    let mut studies = BTreeMap::new();
    for &i in by_k.values() {
        let (dir, report, info) = &shards[i];
        for st in &report.studies {
            if let Some((j, _)) = studies.get(&st.study_instance_uid) {
                let j: usize = *j;
                return Err(MergeError::DuplicateStudy {
                    uid: st.study_instance_uid.clone(),
                    a: shards[j].0.clone(),
                    b: dir.clone(),
                });
            }
            let owner = shard_of(&st.study_instance_uid, n);
            if owner != info.k {
                return Err(MergeError::Inconsistent(format!(
                    "study {} is in the output of shard {}/{n} ({}) but belongs to shard {owner}",
                    st.study_instance_uid,
                    info.k,
                    dir.display()
                )));
            }
            studies.insert(st.study_instance_uid.clone(), (i, st.clone()));
        }
    }
    if studies.len() != first_info.input_studies
        || studies_digest(studies.keys().map(String::as_str)) != first_info.input_digest
    {
        return Err(MergeError::MissingStudies {
            have: studies.len(),
            want: first_info.input_studies,
        });
    }

    // Series grouped by study, in study order (as a single run orders them); files
    // that are no study's come from shard 0 only.
    let mut instances_read = 0;
    let mut skipped_files = Vec::new();
    let mut by_study: HashMap<String, Vec<SeriesEntry>> = HashMap::new();
    let mut shard_of_dir: Vec<PathBuf> = Vec::with_capacity(shards.len());
    for (dir, report, _) in &mut shards {
        instances_read += report.provenance.instances_read;
        skipped_files.append(&mut report.skipped_files);
        for s in std::mem::take(&mut report.series) {
            by_study
                .entry(s.study_instance_uid.clone())
                .or_default()
                .push(s);
        }
        shard_of_dir.push(dir.clone());
    }
    let mut series = Vec::new();
    let mut selections = Vec::with_capacity(studies.len());
    for (uid, (i, sel)) in studies {
        for s in by_study.remove(&uid).unwrap_or_default() {
            let from = &shard_of_dir[i];
            let files = s.qc_images.iter().chain(s.mask_file.iter());
            for rel in files.filter(|r| inside(r)) {
                copy_file(&from.join(rel), &out.join(rel))?;
            }
            series.push(s);
        }
        selections.push(sel);
    }
    let (schema, tool, disclaimer, thresholds, first_provenance) = head;
    let mut provenance = Provenance::new(started, first_provenance.identifiers == "included");
    provenance.instances_read = instances_read;
    provenance.tool_version = first_provenance.tool_version;
    provenance.git_commit = first_provenance.git_commit;
    Ok(Report {
        schema,
        tool,
        disclaimer,
        provenance,
        thresholds,
        studies: selections,
        series,
        skipped_files,
        qc: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_copied() {
        assert!(inside("qc/1.2_midsagittal.png"));
        assert!(!inside("../x.png"));
        assert!(!inside("/etc/passwd"));
        assert!(!inside("qc/../../x"));
        assert!(!inside(""));
    }
}
