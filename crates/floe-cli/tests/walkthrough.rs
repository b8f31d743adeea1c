//! docs/walkthrough.md cannot rot: every fenced `sh` block in it is run, in order, in
//! one empty directory with the `floe` Cargo built for this test first on `PATH`, and
//! the `text` block that follows a command block is its expected output.
//!
//! Matching: each block runs under `bash -eo pipefail` (a failing command fails the
//! test unless the doc catches it with `|| echo …`), stdout and stderr together. Both
//! sides are normalised — the temporary directory becomes `/tmp/floe-walk`, uuids,
//! 32-digit hex names, ids of ten or more digits, date-times and millisecond timings
//! become placeholders, runs of spaces and of `-` shrink to one — and then every
//! expected line must be found in the output, each matching a different output line,
//! in any order (concurrent writers commit in any order). A line that is only `…` is
//! a gap; a `…` inside a line matches anything.
//!
//! `FLOE_WALKTHROUGH_SHOW=1` prints every block's real output (to refresh the doc).
//!
//! docs/object-stores.md's walkthrough runs the same way against the test S3 server.

use std::path::Path;
use std::process::Command;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

struct Step {
    line: usize,
    script: String,
    expected: Option<String>,
}

/// `sh` blocks and the `text` block directly after each (only blank lines between).
fn steps(doc: &str) -> Vec<Step> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out: Vec<Step> = Vec::new();
    let mut i = 0;
    let mut last_was_sh_end: Option<usize> = None;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if let Some(lang) = l.strip_prefix("```") {
            let lang = lang.trim();
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim_end() != "```" {
                end += 1;
            }
            let body = lines[start..end.min(lines.len())].join("\n");
            match lang {
                "sh" => {
                    out.push(Step { line: i + 1, script: body, expected: None });
                    last_was_sh_end = Some(end);
                }
                "text" => {
                    let adjacent = last_was_sh_end.is_some_and(|e| lines[e + 1..i].iter().all(|x| x.trim().is_empty()));
                    if adjacent && let Some(s) = out.last_mut() {
                        s.expected = Some(body);
                    }
                    last_was_sh_end = None;
                }
                _ => last_was_sh_end = None,
            }
            i = end + 1;
            continue;
        }
        i += 1;
    }
    out
}

fn replace_all(s: &str, re: &str, with: &str) -> String {
    regex::Regex::new(re).unwrap().replace_all(s, with).into_owned()
}

fn normalise(line: &str, dir: &str) -> String {
    let mut s = line.replace(dir, "/tmp/floe-walk");
    s = replace_all(&s, r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>");
    s = replace_all(&s, r"[0-9a-f]{32}", "<hex>");
    s = replace_all(&s, r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?", "<time>");
    s = replace_all(&s, r"-?\d{10,}", "<id>");
    s = replace_all(&s, r"\d+(\.\d+)? ms\b", "<n> ms");
    s = replace_all(&s, r"-{2,}", "-");
    s = replace_all(&s, r"\s+", " ");
    s.trim().to_string()
}

/// Does `actual` match `expected`, where `…` in expected matches anything?
fn line_matches(expected: &str, actual: &str) -> bool {
    if !expected.contains('…') {
        return expected == actual;
    }
    let parts: Vec<String> = expected.split('…').map(|p| regex::escape(p.trim())).collect();
    regex::Regex::new(&format!("^{}$", parts.join(".*"))).is_ok_and(|re| re.is_match(actual))
}

fn check(step: &Step, output: &str, dir: &str) -> Result<(), String> {
    let Some(expected) = &step.expected else { return Ok(()) };
    let mut actual: Vec<Option<String>> =
        output.lines().map(|l| normalise(l, dir)).filter(|l| !l.is_empty()).map(Some).collect();
    for exp in expected.lines() {
        let exp_n = normalise(exp, dir);
        if exp_n.is_empty() || exp_n == "…" {
            continue;
        }
        match actual.iter_mut().find(|a| a.as_deref().is_some_and(|a| line_matches(&exp_n, a))) {
            Some(slot) => *slot = None,
            None => return Err(format!("expected line not in the output: {exp:?} (normalised {exp_n:?})")),
        }
    }
    Ok(())
}

#[test]
fn walkthrough_commands_run_and_print_what_the_doc_shows() {
    let failures = run_doc("docs/walkthrough.md", 10, &[]);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// docs/object-stores.md's walkthrough, against the S3 server `scripts/s3-server.sh`
/// starts (credentials from its AWS_* environment; `TABLE` a fresh prefix). Skipped
/// without `FLOE_S3_BUCKET` unless `FLOE_S3_REQUIRED` is set.
#[test]
fn object_store_walkthrough_runs_on_the_s3_server() {
    let Ok(bucket) = std::env::var("FLOE_S3_BUCKET") else {
        assert!(std::env::var_os("FLOE_S3_REQUIRED").is_none(), "FLOE_S3_REQUIRED without FLOE_S3_BUCKET");
        eprintln!("skipped: no S3 server (see scripts/s3-server.sh)");
        return;
    };
    let table = format!("s3://{bucket}/walkthrough-{}", uuid::Uuid::new_v4());
    let failures = run_doc("docs/object-stores.md", 3, &[("TABLE", &table)]);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs every `sh` block of `doc` (at least `min_steps` of them, as many with expected
/// output) in one empty directory; returns the failures.
fn run_doc(doc: &str, min_steps: usize, env: &[(&str, &str)]) -> Vec<String> {
    let repo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let text = std::fs::read_to_string(repo.join(doc)).unwrap();
    let steps = steps(&text);
    assert!(steps.len() >= min_steps, "found only {} sh blocks", steps.len());
    assert!(steps.iter().filter(|s| s.expected.is_some()).count() >= min_steps);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    let bin_dir = Path::new(FLOE).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let show = std::env::var("FLOE_WALKTHROUGH_SHOW").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for step in &steps {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("set -eo pipefail\n{}", step.script))
            .current_dir(&dir)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .env_remove("FLOE_WALKTHROUGH_SHOW")
            .output()
            .unwrap();
        // Interleave as a terminal would show it closely enough: stdout then stderr.
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        if show {
            println!("=== {doc}:{}\n{}\n--- output\n{output}", step.line, step.script);
        }
        if !out.status.success() {
            failures.push(format!(
                "{doc}: block at line {} exited with {}:\n{}\n{output}",
                step.line, out.status, step.script
            ));
            break;
        }
        if let Err(e) = check(step, &output, &dir.display().to_string()) {
            failures
                .push(format!("{doc}: block at line {}: {e}\nscript:\n{}\noutput:\n{output}", step.line, step.script));
        }
    }
    failures
}

#[test]
fn matcher_is_not_vacuous() {
    let step = Step {
        line: 1,
        script: String::new(),
        expected: Some("committed v2 (snapshot 1234567890123)\n…\nrows 5".into()),
    };
    assert!(check(&step, "committed v2 (snapshot 98765432109876)\nrows     5\n", "/x").is_ok());
    assert!(check(&step, "committed v3 (snapshot 98765432109876)\nrows 5\n", "/x").is_err());
    assert!(check(&step, "committed v2 (snapshot 98765432109876)\n", "/x").is_err());
    let wild = Step { line: 1, script: String::new(), expected: Some("attempts …, lost races …".into()) };
    assert!(check(&wild, "attempts 3, lost races 2\n", "/x").is_ok());
    assert!(check(&wild, "attempts 3\n", "/x").is_err());
}
