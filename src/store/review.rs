//! The local human review queue (what Autoblocks keeps in its cloud as human review jobs):
//! a run's review jobs, and per case the fields a reviewer sees and the grade given.
//!
//! A grade is a verdict (pass or fail), an optional score from 0 to 1 and an optional note:
//! the two answers an Autoblocks rubric asks of a reviewer (a binary criterion, a scored one),
//! without the rubric itself, which lives in Autoblocks' cloud.
//!
//! Written on a plain connection, not through `Writer`: a job and its fields are written
//! once, after the run's results, and a grade is one row a person saves.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::error::StoreError;
use super::model::raw_json;
use super::read::db_path;

/// The longest note a grade keeps, in characters.
pub const MAX_NOTE_CHARS: usize = 20_000;

/// A request for people to grade a run's cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewJob {
    pub name: String,
    /// Who should grade (Autoblocks' assignee email addresses; any text here).
    pub assignees: Vec<String>,
    pub rubric_id: Option<String>,
    /// Unix time in seconds.
    pub created_at: f64,
}

/// What a reviewer sees of one case: the JSON lists of {name, value, contentType} from the
/// case's and the output's `serialize_for_human_review()` (None: the case has none, so the
/// reviewer sees the stored test case and output).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFields {
    pub case_hash: String,
    pub input_fields: Option<String>,
    pub output_fields: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }

    fn parse(text: &str) -> Option<Verdict> {
        match text {
            "pass" => Some(Verdict::Pass),
            "fail" => Some(Verdict::Fail),
            _ => None,
        }
    }
}

/// A reviewer's grade of one case, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    pub verdict: Verdict,
    pub score: Option<f64>,
    pub note: Option<String>,
}

impl Grade {
    /// Checks a grade as given (by the viewer, the CLI, Python): the verdict "pass" or
    /// "fail", a score from 0 to 1, a note of at most MAX_NOTE_CHARS characters. An empty
    /// note is no note.
    pub fn new(
        verdict: &str,
        score: Option<f64>,
        note: Option<&str>,
    ) -> Result<Grade, ReviewError> {
        let verdict = Verdict::parse(verdict).ok_or_else(|| {
            ReviewError::Invalid(format!(
                "grade must be \"pass\" or \"fail\", got {verdict:?}"
            ))
        })?;
        if let Some(score) = score {
            if !(0.0..=1.0).contains(&score) {
                return Err(ReviewError::Invalid(format!(
                    "score must be a number from 0 to 1, got {score}"
                )));
            }
        }
        let note = note.filter(|n| !n.trim().is_empty());
        if let Some(note) = note {
            let chars = note.chars().count();
            if chars > MAX_NOTE_CHARS {
                return Err(ReviewError::Invalid(format!(
                    "note has {chars} characters, at most {MAX_NOTE_CHARS} are kept"
                )));
            }
        }
        Ok(Grade {
            verdict,
            score,
            note: note.map(str::to_string),
        })
    }
}

/// One case in the queue as stored: its fields and, once graded, its grade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewItem {
    pub case_hash: String,
    #[serde(serialize_with = "raw_json")]
    pub input_fields: Option<String>,
    #[serde(serialize_with = "raw_json")]
    pub output_fields: Option<String>,
    /// None until graded.
    pub grade: Option<Verdict>,
    pub score: Option<f64>,
    pub note: Option<String>,
    pub graded_at: Option<f64>,
}

/// A run's review queue: its jobs (oldest first) and the items stored for its cases. A run
/// without a job has an empty queue unless someone graded its cases anyway.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Review {
    pub jobs: Vec<ReviewJob>,
    pub items: Vec<ReviewItem>,
}

impl Review {
    pub fn item(&self, case_hash: &str) -> Option<&ReviewItem> {
        self.items.iter().find(|i| i.case_hash == case_hash)
    }
}

#[derive(Debug)]
pub enum ReviewError {
    Store(StoreError),
    /// The run, or the case within it, is not in the store.
    NotFound(String),
    /// A grade that cannot be kept (the message says which part).
    Invalid(String),
}

impl std::fmt::Display for ReviewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReviewError::Store(e) => e.fmt(f),
            ReviewError::NotFound(m) | ReviewError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ReviewError {}

impl From<StoreError> for ReviewError {
    fn from(e: StoreError) -> Self {
        ReviewError::Store(e)
    }
}

fn run_seq(conn: &Connection, run_id: &str, doing: &str) -> Result<i64, ReviewError> {
    let path = db_path(conn);
    conn.query_row("SELECT seq FROM runs WHERE id = ?1", [run_id], |r| r.get(0))
        .optional()
        .map_err(|e| StoreError::sqlite(&path, doing, e))?
        .ok_or_else(|| ReviewError::NotFound(format!("{doing}: there is no run {run_id}")))
}

/// Adds `job` (if any) to run `run_id` and stores `fields` for its cases, in one
/// transaction. Fields stored earlier for a case are replaced; its grade is kept. Cases
/// with neither input nor output fields get no row.
pub fn save_review(
    conn: &mut Connection,
    run_id: &str,
    job: Option<&ReviewJob>,
    fields: &[CaseFields],
) -> Result<(), ReviewError> {
    let path = db_path(conn);
    let doing = format!("saving the review queue of run {run_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(fail)?;
    let seq = run_seq(&tx, run_id, &doing)?;
    if let Some(job) = job {
        let assignees = serde_json::to_string(&job.assignees).expect("strings serialize");
        tx.execute(
            "INSERT INTO review_jobs (run, name, assignees, rubric_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, job.name, assignees, job.rubric_id, job.created_at],
        )
        .map_err(fail)?;
    }
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO review_items (run, case_hash, input_fields, output_fields) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (run, case_hash) DO UPDATE SET \
                 input_fields = excluded.input_fields, output_fields = excluded.output_fields",
            )
            .map_err(fail)?;
        for f in fields {
            if f.input_fields.is_none() && f.output_fields.is_none() {
                continue;
            }
            stmt.execute(params![seq, f.case_hash, f.input_fields, f.output_fields])
                .map_err(fail)?;
        }
    }
    tx.commit().map_err(fail)?;
    Ok(())
}

/// Saves `grade` for case `case_hash` of run `run_id` (replacing an earlier grade).
pub fn grade_case(
    conn: &Connection,
    run_id: &str,
    case_hash: &str,
    grade: &Grade,
    graded_at: f64,
) -> Result<(), ReviewError> {
    let path = db_path(conn);
    let doing = format!("grading case {case_hash:?} of run {run_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    let seq = run_seq(conn, run_id, &doing)?;
    let exists = conn
        .query_row(
            "SELECT 1 FROM cases WHERE run = ?1 AND hash = ?2",
            params![seq, case_hash],
            |_| Ok(()),
        )
        .optional()
        .map_err(fail)?;
    if exists.is_none() {
        return Err(ReviewError::NotFound(format!(
            "{doing}: the run has no case with that hash"
        )));
    }
    conn.execute(
        "INSERT INTO review_items (run, case_hash, grade, score, note, graded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (run, case_hash) DO UPDATE SET grade = excluded.grade, \
         score = excluded.score, note = excluded.note, graded_at = excluded.graded_at",
        params![
            seq,
            case_hash,
            grade.verdict.as_str(),
            grade.score,
            grade.note,
            graded_at
        ],
    )
    .map_err(fail)?;
    Ok(())
}

/// The review queue of run `run_id` (empty for a run with none, or no such run).
pub fn run_review(conn: &Connection, run_id: &str) -> Result<Review, StoreError> {
    let path = db_path(conn);
    let doing = format!("reading the review queue of run {run_id}");
    let fail = |e| StoreError::sqlite(&path, &doing, e);
    let mut jobs = conn
        .prepare_cached(
            "SELECT j.name, j.assignees, j.rubric_id, j.created_at FROM review_jobs j \
             JOIN runs r ON r.seq = j.run WHERE r.id = ?1 ORDER BY j.id",
        )
        .map_err(fail)?;
    let jobs: Vec<(String, String, Option<String>, f64)> = jobs
        .query_map([run_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    let jobs = jobs
        .into_iter()
        .map(|(name, assignees, rubric_id, created_at)| {
            // Written by save_review as a JSON list of strings; anything else is damage.
            let assignees = serde_json::from_str(&assignees).map_err(|e| {
                StoreError::new(
                    super::error::StoreErrorKind::Corrupt,
                    &path,
                    format!("{doing}: job {name:?} has assignees that are not a JSON list: {e}"),
                )
            })?;
            Ok(ReviewJob {
                name,
                assignees,
                rubric_id,
                created_at,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let mut items = conn
        .prepare_cached(
            "SELECT i.case_hash, i.input_fields, i.output_fields, i.grade, i.score, i.note, \
                    i.graded_at \
             FROM review_items i JOIN runs r ON r.seq = i.run WHERE r.id = ?1 \
             ORDER BY i.case_hash",
        )
        .map_err(fail)?;
    let items = items
        .query_map([run_id], |r| {
            Ok(ReviewItem {
                case_hash: r.get(0)?,
                input_fields: r.get(1)?,
                output_fields: r.get(2)?,
                grade: r
                    .get::<_, Option<String>>(3)?
                    .as_deref()
                    .and_then(Verdict::parse),
                score: r.get(4)?,
                note: r.get(5)?,
                graded_at: r.get(6)?,
            })
        })
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    Ok(Review { jobs, items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{self, TestDir};
    use crate::store::{delete_old_runs, open, Writer};
    use std::path::Path;

    /// One finished run `id` with cases of these hashes and no evaluations.
    fn write_run(path: &Path, id: &str, started_at: f64, hashes: &[&str]) {
        let writer = Writer::start(path).unwrap();
        let cases: Vec<test_support::Case> = hashes.iter().map(|h| (*h, None, vec![])).collect();
        test_support::write_run(&writer, id, "s", started_at, &cases);
        writer.close().unwrap();
    }

    fn fields(hash: &str, input: Option<&str>, output: Option<&str>) -> CaseFields {
        CaseFields {
            case_hash: hash.into(),
            input_fields: input.map(str::to_string),
            output_fields: output.map(str::to_string),
        }
    }

    fn job(name: &str) -> ReviewJob {
        ReviewJob {
            name: name.into(),
            assignees: vec!["a@example.com".into(), "b@example.com".into()],
            rubric_id: Some("rubric-1".into()),
            created_at: 5.0,
        }
    }

    #[test]
    fn a_job_and_fields_are_read_back_and_grades_survive_new_fields() {
        let dir = TestDir::new("review-save");
        let path = dir.path().join("trialrun.db");
        write_run(&path, "r1", 1.0, &["h0", "h1"]);
        let mut conn = open(&path).unwrap();
        let input = r#"[{"name":"q","value":"hi","contentType":"text"}]"#;
        save_review(
            &mut conn,
            "r1",
            Some(&job("first pass")),
            &[fields("h0", Some(input), None), fields("h1", None, None)],
        )
        .unwrap();
        let grade = Grade::new("fail", Some(0.25), Some("too long")).unwrap();
        grade_case(&conn, "r1", "h0", &grade, 9.0).unwrap();
        // New fields for a graded case keep its grade.
        let output = r#"[{"name":"a","value":"<b>x</b>","contentType":"html"}]"#;
        save_review(
            &mut conn,
            "r1",
            None,
            &[fields("h0", Some(input), Some(output))],
        )
        .unwrap();

        let review = run_review(&conn, "r1").unwrap();
        assert_eq!(review.jobs, vec![job("first pass")]);
        assert_eq!(review.items.len(), 1, "h1 had no fields: no row");
        let item = review.item("h0").unwrap();
        assert_eq!(item.input_fields.as_deref(), Some(input));
        assert_eq!(item.output_fields.as_deref(), Some(output));
        assert_eq!(
            (item.grade, item.score, item.note.as_deref(), item.graded_at),
            (Some(Verdict::Fail), Some(0.25), Some("too long"), Some(9.0))
        );
        let json = serde_json::to_value(&review).unwrap();
        assert_eq!(json["items"][0]["grade"], "fail");
        assert_eq!(json["items"][0]["output_fields"][0]["contentType"], "html");
        assert_eq!(json["jobs"][0]["assignees"][1], "b@example.com");
    }

    #[test]
    fn grading_an_ungraded_case_without_fields_makes_its_row() {
        let dir = TestDir::new("review-grade");
        let path = dir.path().join("trialrun.db");
        write_run(&path, "r1", 1.0, &["h0"]);
        let conn = open(&path).unwrap();
        grade_case(
            &conn,
            "r1",
            "h0",
            &Grade::new("pass", None, Some("  ")).unwrap(),
            2.0,
        )
        .unwrap();
        let item = run_review(&conn, "r1").unwrap().items.remove(0);
        assert_eq!(
            (item.grade, item.score, item.note),
            (Some(Verdict::Pass), None, None)
        );
        assert_eq!(item.input_fields, None);
        // Grading again replaces the grade.
        grade_case(
            &conn,
            "r1",
            "h0",
            &Grade::new("fail", Some(1.0), None).unwrap(),
            3.0,
        )
        .unwrap();
        let item = run_review(&conn, "r1").unwrap().items.remove(0);
        assert_eq!(
            (item.grade, item.score, item.graded_at),
            (Some(Verdict::Fail), Some(1.0), Some(3.0))
        );
    }

    #[test]
    fn unknown_runs_and_cases_and_bad_grades_are_refused_by_name() {
        let dir = TestDir::new("review-refuse");
        let path = dir.path().join("trialrun.db");
        write_run(&path, "r1", 1.0, &["h0"]);
        let mut conn = open(&path).unwrap();
        let pass = Grade::new("pass", None, None).unwrap();
        let err = grade_case(&conn, "r1", "nope", &pass, 1.0).unwrap_err();
        assert!(
            matches!(&err, ReviewError::NotFound(m) if m.contains("\"nope\"") && m.contains("no case")),
            "{err}"
        );
        let err = grade_case(&conn, "r9", "h0", &pass, 1.0).unwrap_err();
        assert!(
            matches!(&err, ReviewError::NotFound(m) if m.contains("no run r9")),
            "{err}"
        );
        let err = save_review(&mut conn, "r9", Some(&job("j")), &[]).unwrap_err();
        assert!(matches!(err, ReviewError::NotFound(_)));

        for (verdict, score, note, needle) in [
            ("passed", None, None, "\"pass\" or \"fail\""),
            ("pass", Some(1.5), None, "from 0 to 1, got 1.5"),
            ("pass", Some(-0.1), None, "from 0 to 1"),
            ("fail", Some(f64::NAN), None, "from 0 to 1"),
        ] {
            let err = Grade::new(verdict, score, note).unwrap_err();
            assert!(
                matches!(&err, ReviewError::Invalid(m) if m.contains(needle)),
                "{err}"
            );
        }
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        assert!(matches!(
            Grade::new("pass", None, Some(&long)),
            Err(ReviewError::Invalid(_))
        ));
        assert!(run_review(&conn, "r1").unwrap().items.is_empty());
    }

    #[test]
    fn deleting_a_run_deletes_its_queue() {
        let dir = TestDir::new("review-gc");
        let path = dir.path().join("trialrun.db");
        write_run(&path, "old", 1.0, &["h0"]);
        write_run(&path, "new", 2.0, &["h0"]);
        let mut conn = open(&path).unwrap();
        for run in ["old", "new"] {
            save_review(
                &mut conn,
                run,
                Some(&job("j")),
                &[fields("h0", Some("[]"), None)],
            )
            .unwrap();
        }
        assert_eq!(delete_old_runs(&conn, 1).unwrap(), 1);
        let count = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!((count("review_jobs"), count("review_items")), (1, 1));
        assert_eq!(run_review(&conn, "new").unwrap().jobs.len(), 1);
    }
}
