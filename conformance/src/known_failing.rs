//! Expected failures (as protobuf's and Connect's conformance runners do): a file listing the
//! checks an implementation is known to fail, each with the failure code it fails with. The run
//! fails when a listed check passes, fails with another code, or is skipped: the list never goes
//! stale silently.
//!
//! ```text
//! # comment
//! PXS-10.2-other-methods  status   # 3.2.1 answers 404, not 405, to other methods
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::{Outcome, Report};

/// One listed check: the failure code expected and the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The failure code expected.
    pub code: String,
    /// Why (free text).
    pub comment: String,
}

/// A known-failing list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownFailing {
    /// Check id to its entry.
    pub entries: BTreeMap<String, Entry>,
}

impl KnownFailing {
    /// Parses the text format; errors name the line.
    pub fn parse(text: &str) -> Result<KnownFailing, String> {
        let mut entries = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let (body, comment) = line.split_once('#').unwrap_or((line, ""));
            let mut words = body.split_whitespace();
            let Some(id) = words.next() else { continue };
            let code = words.next().ok_or_else(|| format!("line {}: {id:?} needs a failure code after it", n + 1))?;
            if words.next().is_some() {
                return Err(format!("line {}: expected `<check id> <failure code>  # comment`", n + 1));
            }
            let entry = Entry { code: code.to_owned(), comment: comment.trim().to_owned() };
            if entries.insert(id.to_owned(), entry).is_some() {
                return Err(format!("line {}: {id} is listed twice", n + 1));
            }
        }
        Ok(KnownFailing { entries })
    }

    /// The list for the failures in `reports` (keeping the comments of entries that stay).
    pub fn regenerate(&self, reports: &[Report]) -> String {
        let mut out = String::from("# Known failures: `<check id> <failure code>  # why`. A listed check that passes or\n# fails differently fails the run. Regenerate with --write-known-failing.\n");
        for r in reports {
            if let Outcome::Fail(f) = &r.outcome {
                let comment = self.entries.get(r.id).map_or_else(|| first_line(&f.message), |e| e.comment.clone());
                let _ = writeln!(out, "{} {}  # {}", r.id, f.code, comment);
            }
        }
        out
    }

    /// How `reports` compare with the list: problems, one line each (empty: as expected).
    pub fn compare(&self, reports: &[Report]) -> Vec<String> {
        let mut problems = Vec::new();
        for (id, entry) in &self.entries {
            match reports.iter().find(|r| r.id == id.as_str()) {
                None => problems
                    .push(format!("{id} is listed as known-failing but was not run (unknown id, or filtered out)")),
                Some(r) => match &r.outcome {
                    Outcome::Pass => problems.push(format!(
                        "{id} is listed as known-failing ({}) but passes: remove it from the list",
                        entry.code
                    )),
                    Outcome::Skip(why) => {
                        problems.push(format!("{id} is listed as known-failing but was skipped: {why}"))
                    }
                    Outcome::Fail(f) if f.code != entry.code => {
                        problems.push(format!(
                            "{id} is listed as failing with `{}` but fails with `{}`: {}",
                            entry.code,
                            f.code,
                            first_line(&f.message)
                        ));
                    }
                    Outcome::Fail(_) => {}
                },
            }
        }
        problems
    }

    /// The entries for the checks in `ids` only (a run with --only/--skip compares what it ran).
    pub fn restricted_to(&self, ids: &[&str]) -> KnownFailing {
        let entries = self.entries.iter().filter(|(id, _)| ids.contains(&id.as_str()));
        KnownFailing { entries: entries.map(|(k, v)| (k.clone(), v.clone())).collect() }
    }

    /// Whether `id` is listed.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_owned()
}
