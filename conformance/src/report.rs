//! Reports: a text table grouped by spec section, one versioned JSON object, JUnit XML with a
//! `<testsuites>` root, and one self-contained HTML page; each with the root causes.

use std::fmt::Write as _;

use crate::known_failing::KnownFailing;
use crate::{hexdump, Level, Outcome, Report};

/// The version of the JSON report's shape.
pub const JSON_REPORT_VERSION: u32 = 1;

/// What a report says about the run besides the checks.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The endpoint (route URL or template).
    pub target: String,
    /// The control interface, if any.
    pub control: Option<String>,
    /// CTRL-1 `implementation`, if known.
    pub implementation: Option<String>,
    /// The HTTP version used with the endpoint.
    pub protocol: String,
    /// Warnings to repeat (`--insecure`).
    pub warnings: Vec<String>,
    /// SHOULD failures fail the run.
    pub strict: bool,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed and fail the run.
    pub failed: usize,
    /// Checks that failed as the known-failing list expects.
    pub expected_failures: usize,
    /// SHOULD checks that failed without `--strict`.
    pub should_failures: usize,
    /// Informative checks whose observation is not the expected one (never counted).
    pub informative: usize,
    /// Checks that could not run.
    pub skipped: usize,
}

/// How a report's outcome counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Passed.
    Pass,
    /// Failed, fails the run.
    Fail,
    /// Failed as listed.
    ExpectedFailure,
    /// A SHOULD not met (not strict).
    ShouldFailure,
    /// An informative observation.
    Informative,
    /// Skipped.
    Skip,
}

impl Verdict {
    /// The word reports use.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::ExpectedFailure => "xfail",
            Verdict::ShouldFailure => "warn",
            Verdict::Informative => "info",
            Verdict::Skip => "skip",
        }
    }
}

/// How `r` counts.
pub fn verdict(r: &Report, known: &KnownFailing, strict: bool) -> Verdict {
    match &r.outcome {
        Outcome::Pass => Verdict::Pass,
        Outcome::Skip(_) => Verdict::Skip,
        Outcome::Fail(_) if known.contains(r.id) => Verdict::ExpectedFailure,
        Outcome::Fail(_) if r.level == Level::Info => Verdict::Informative,
        Outcome::Fail(_) if r.level == Level::Should && !strict => Verdict::ShouldFailure,
        Outcome::Fail(_) => Verdict::Fail,
    }
}

/// Tallies reports: a failure fails the run unless it is listed, informative, or a SHOULD
/// without `strict`.
pub fn summarize(reports: &[Report], known: &KnownFailing, strict: bool) -> Summary {
    let mut s = Summary::default();
    for r in reports {
        match verdict(r, known, strict) {
            Verdict::Pass => s.passed += 1,
            Verdict::Skip => s.skipped += 1,
            Verdict::ExpectedFailure => s.expected_failures += 1,
            Verdict::Informative => s.informative += 1,
            Verdict::ShouldFailure => s.should_failures += 1,
            Verdict::Fail => s.failed += 1,
        }
    }
    s
}

/// Failures that fail the run, grouped by the requirement most likely broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    /// The requirement ID.
    pub requirement: &'static str,
    /// What is wrong.
    pub summary: String,
    /// The checks that fail because of it, in run order.
    pub checks: Vec<&'static str>,
}

/// The root causes of the failures that fail the run, the first one met first: a failure with a
/// [`crate::Cause`] is grouped by it; otherwise by its check's first requirement and its
/// message.
pub fn root_causes(reports: &[Report], known: &KnownFailing, strict: bool) -> Vec<RootCause> {
    let mut causes: Vec<RootCause> = Vec::new();
    for r in reports {
        let Outcome::Fail(f) = &r.outcome else { continue };
        if verdict(r, known, strict) != Verdict::Fail {
            continue;
        }
        let (requirement, summary) = match &f.cause {
            Some(c) => (c.requirement, c.summary.clone()),
            None => (
                r.requirements.first().copied().unwrap_or("?"),
                format!("[{}] {}", f.code, f.message.lines().next().unwrap_or("")),
            ),
        };
        match causes.iter_mut().find(|c| c.requirement == requirement && c.summary == summary) {
            Some(c) => c.checks.push(r.id),
            None => causes.push(RootCause { requirement, summary, checks: vec![r.id] }),
        }
    }
    causes
}

fn section_key(section: &str) -> Vec<u32> {
    section.split('.').map(|p| p.parse().unwrap_or(u32::MAX)).collect()
}

fn sorted(reports: &[Report]) -> Vec<&Report> {
    let mut v: Vec<&Report> = reports.iter().collect();
    v.sort_by_key(|r| section_key(r.section));
    v
}

/// The text report: warnings, per section one line per check, evidence under each failure, the
/// root causes, then the closing line `N passed, N failed, N skipped` (the form CI systems read).
pub fn text(reports: &[Report], known: &KnownFailing, run: &RunInfo) -> String {
    let mut out = String::new();
    for w in &run.warnings {
        let _ = writeln!(out, "WARNING: {w}");
    }
    let _ = writeln!(
        out,
        "target: {} ({}){}",
        run.target,
        run.protocol,
        run.implementation.as_deref().map(|i| format!(", implementation: {i}")).unwrap_or_default()
    );
    let mut section = "";
    for r in sorted(reports) {
        if r.section != section {
            section = r.section;
            let _ = writeln!(out, "\n§{section}");
        }
        let v = verdict(r, known, run.strict);
        let detail = match &r.outcome {
            Outcome::Pass => String::new(),
            Outcome::Skip(why) => format!(" ({why})"),
            Outcome::Fail(f) => format!(" [{}] {}", f.code, f.message),
        };
        let mark = if v == Verdict::Fail { "FAIL" } else { v.word() };
        let _ = writeln!(out, "  {mark:<5} {:<6} {:<46} {}{detail}", r.level.label(), r.id, r.title);
        if let (Outcome::Fail(f), Verdict::Fail | Verdict::ShouldFailure) = (&r.outcome, v) {
            let _ = writeln!(out, "        requirements: {}", r.requirements.join(", "));
            if let Some(ex) = &f.exchange {
                out.push_str(&hexdump::evidence(ex));
            }
        }
    }
    let causes = root_causes(reports, known, run.strict);
    if !causes.is_empty() {
        let _ = writeln!(out, "\nRoot causes (the requirement most likely broken, first met first):");
        for (i, c) in causes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {}: {} ({} checks: {})",
                i + 1,
                c.requirement,
                c.summary,
                c.checks.len(),
                c.checks.join(", ")
            );
        }
    }
    let s = summarize(reports, known, run.strict);
    let _ = writeln!(
        out,
        "\n{} expected failures (known-failing list), {} SHOULD failures{}, {} informative",
        s.expected_failures,
        s.should_failures,
        if run.strict { " (counted as failures: --strict)" } else { " (not counted: use --strict)" },
        s.informative
    );
    for w in &run.warnings {
        let _ = writeln!(out, "WARNING: {w}");
    }
    let _ = writeln!(out, "{} passed, {} failed, {} skipped", s.passed, s.failed, s.skipped);
    out
}

/// The JSON report: one versioned object (tool, spec version, target, summary, root causes,
/// checks).
pub fn json(reports: &[Report], known: &KnownFailing, run: &RunInfo) -> String {
    let s = summarize(reports, known, run.strict);
    let checks: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let (code, message, cause, evidence) = match &r.outcome {
                Outcome::Pass => (None, None, None, None),
                Outcome::Skip(why) => (None, Some(why.clone()), None, None),
                Outcome::Fail(f) => (
                    Some(f.code),
                    Some(f.message.clone()),
                    f.cause.as_ref().map(|c| serde_json::json!({ "requirement": c.requirement, "summary": c.summary })),
                    f.exchange.as_deref().map(hexdump::evidence),
                ),
            };
            serde_json::json!({
                "id": r.id, "section": r.section, "requirements": r.requirements, "level": r.level.label(),
                "title": r.title, "outcome": verdict(r, known, run.strict).word(), "code": code, "message": message,
                "cause": cause, "evidence": evidence,
                "durationMs": u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            })
        })
        .collect();
    let causes: Vec<serde_json::Value> = root_causes(reports, known, run.strict)
        .into_iter()
        .map(|c| serde_json::json!({ "requirement": c.requirement, "summary": c.summary, "checks": c.checks }))
        .collect();
    let doc = serde_json::json!({
        "report": "pixstore-conformance",
        "reportVersion": JSON_REPORT_VERSION,
        "tool": { "name": "pixstore-conformance", "version": crate::TOOL_VERSION },
        "specVersion": proto::SPEC_VERSION,
        "target": {
            "endpoint": run.target, "control": run.control, "implementation": run.implementation,
            "protocol": run.protocol,
        },
        "warnings": run.warnings,
        "strict": run.strict,
        "summary": {
            "result": if s.failed == 0 { "pass" } else { "fail" },
            "passed": s.passed, "failed": s.failed, "expectedFailures": s.expected_failures,
            "shouldFailures": s.should_failures, "informative": s.informative, "skipped": s.skipped,
        },
        "rootCauses": causes,
        "checks": checks,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            c if u32::from(c) < 0x20 && c != '\n' && c != '\t' => " ".into(),
            c => c.to_string(),
        })
        .collect()
}

/// The JUnit XML report: a `<testsuites>` root, one `<testsuite>` per spec section, one test
/// case per check.
pub fn junit(reports: &[Report], known: &KnownFailing, run: &RunInfo) -> String {
    let s = summarize(reports, known, run.strict);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"pixstore-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        reports.len(),
        s.failed,
        s.skipped
    );
    let all = sorted(reports);
    let mut sections: Vec<&str> = all.iter().map(|r| r.section).collect();
    sections.dedup();
    for section in sections {
        let members: Vec<Report> = all.iter().filter(|r| r.section == section).map(|r| (*r).clone()).collect();
        let ss = summarize(&members, known, run.strict);
        let _ = writeln!(
            out,
            "  <testsuite name=\"spec §{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            xml_escape(section),
            members.len(),
            ss.failed,
            ss.skipped
        );
        let _ = writeln!(out, "    <properties>");
        let _ = writeln!(out, "      <property name=\"target\" value=\"{}\"/>", xml_escape(&run.target));
        for w in &run.warnings {
            let _ = writeln!(out, "      <property name=\"warning\" value=\"{}\"/>", xml_escape(w));
        }
        let _ = writeln!(out, "    </properties>");
        for r in &members {
            let _ = write!(
                out,
                "    <testcase classname=\"spec.{}\" name=\"{}\" time=\"{:.3}\">",
                xml_escape(r.section),
                xml_escape(r.id),
                r.duration.as_secs_f64()
            );
            match (&r.outcome, verdict(r, known, run.strict)) {
                (Outcome::Skip(why), _) => {
                    let _ = write!(out, "<skipped message=\"{}\"/>", xml_escape(why));
                }
                (Outcome::Fail(f), Verdict::Fail) => {
                    let evidence = f.exchange.as_deref().map(hexdump::evidence).unwrap_or_default();
                    let _ = write!(
                        out,
                        "<failure type=\"{}\" message=\"{}\">{}</failure>",
                        xml_escape(f.code),
                        xml_escape(&f.message),
                        xml_escape(&evidence)
                    );
                }
                (Outcome::Fail(f), v) => {
                    let _ = write!(
                        out,
                        "<system-out>{}: {}: {}</system-out>",
                        v.word(),
                        xml_escape(f.code),
                        xml_escape(&f.message)
                    );
                }
                (Outcome::Pass, _) => {}
            }
            out.push_str("</testcase>\n");
        }
        if !run.warnings.is_empty() {
            let _ = writeln!(out, "    <system-err>{}</system-err>", xml_escape(&run.warnings.join("\n")));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// One self-contained HTML page: the summary and root causes, then every check grouped by spec
/// section, each failure with its request and the annotated hex dump.
pub fn html(reports: &[Report], known: &KnownFailing, run: &RunInfo) -> String {
    let s = summarize(reports, known, run.strict);
    let e = |t: &str| xml_escape(t);
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Pixstore conformance report</title>\n<style>\n\
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}\n\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}\n\
.pass{background:#e6f4ea}.fail{background:#fce8e6}.xfail{background:#fef7e0}.warn{background:#fef7e0}.info{background:#e8f0fe}.skip{color:#777}\n\
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-weight:600}pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:12px}\n\
.warning{background:#fce8e6;border:1px solid #d93025;padding:.5em;margin:.5em 0}\n</style></head><body>\n",
    );
    let _ = writeln!(out, "<h1>Pixstore conformance report</h1>");
    for w in &run.warnings {
        let _ = writeln!(out, "<div class=\"warning\">WARNING: {}</div>", e(w));
    }
    let _ = writeln!(
        out,
        "<p>Target <code>{}</code> ({}){}; spec version {}; pixstore-conformance {}.</p>",
        e(&run.target),
        e(&run.protocol),
        run.implementation.as_deref().map(|i| format!(", implementation <code>{}</code>", e(i))).unwrap_or_default(),
        proto::SPEC_VERSION,
        crate::TOOL_VERSION
    );
    let (class, word) = if s.failed == 0 { ("pass", "PASS") } else { ("fail", "FAIL") };
    let _ = writeln!(
        out,
        "<p><span class=\"badge {class}\">{word}</span> {} passed, {} failed, {} expected failures, {} SHOULD failures, {} informative, {} skipped{}</p>",
        s.passed,
        s.failed,
        s.expected_failures,
        s.should_failures,
        s.informative,
        s.skipped,
        if run.strict { " (strict)" } else { "" }
    );
    let causes = root_causes(reports, known, run.strict);
    if !causes.is_empty() {
        let _ = writeln!(out, "<h2>Root causes</h2><ol>");
        for c in &causes {
            let _ = writeln!(
                out,
                "<li><b>{}</b>: {} ({} checks: {})</li>",
                e(c.requirement),
                e(&c.summary),
                c.checks.len(),
                e(&c.checks.join(", "))
            );
        }
        let _ = writeln!(out, "</ol>");
    }
    let all = sorted(reports);
    let mut sections: Vec<&str> = all.iter().map(|r| r.section).collect();
    sections.dedup();
    for section in sections {
        let _ = writeln!(out, "<h2 id=\"s{0}\">§{0}</h2>\n<table><tr><th>result</th><th>level</th><th>check</th><th>requirements</th><th>what</th></tr>", e(section));
        for r in all.iter().filter(|r| r.section == section) {
            let v = verdict(r, known, run.strict);
            let _ = write!(
                out,
                "<tr class=\"{0}\"><td>{0}</td><td>{1}</td><td><code>{2}</code></td><td>{3}</td><td>{4}",
                v.word(),
                r.level.label(),
                e(r.id),
                e(&r.requirements.join(", ")),
                e(r.title)
            );
            match &r.outcome {
                Outcome::Pass => {}
                Outcome::Skip(why) => {
                    let _ = write!(out, "<br><i>{}</i>", e(why));
                }
                Outcome::Fail(f) => {
                    let _ = write!(out, "<br><b>[{}]</b> {}", e(f.code), e(&f.message));
                    if let Some(ex) = &f.exchange {
                        let _ = write!(out, "<pre>{}</pre>", e(&hexdump::evidence(ex)));
                    }
                }
            }
            out.push_str("</td></tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}
