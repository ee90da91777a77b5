//! MongoDB test data: each collection under `mongodb.collections` is loaded from its JSON
//! file (an array of documents, Extended JSON such as `$oid` and `$date` accepted) with the
//! Rust `mongodb` driver, after dropping what was there; then `required_count` is checked.
//! As prometheus-test does, every document is stamped with the task's `taskId`, and a
//! collection without a data file is emptied (it exists and starts empty).

use super::config::MongoConfig;
use super::error::{Result, StepsError};
use mongodb::bson::{Bson, Document};
use mongodb::options::ClientOptions;
use mongodb::Client;
use std::path::Path;
use std::time::Duration;

/// How long the driver looks for the server before a load fails.
const SERVER_SELECTION: Duration = Duration::from_secs(10);

/// Documents of one data file, checked before anything is written.
pub fn read_documents(path: &Path) -> Result<Vec<Document>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StepsError::config(format!(
            "{}: cannot read the data file: {e}",
            path.display()
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        StepsError::config(format!(
            "{}: line {}: not valid JSON: {e}",
            path.display(),
            e.line()
        ))
    })?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        obj @ serde_json::Value::Object(_) => vec![obj],
        other => {
            return Err(StepsError::config(format!(
                "{}: expected an array of documents, got {}",
                path.display(),
                kind(&other)
            )))
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let bson = Bson::try_from(item).map_err(|e| {
                StepsError::config(format!(
                    "{}: document {i}: invalid Extended JSON: {e}",
                    path.display()
                ))
            })?;
            match bson {
                Bson::Document(doc) => Ok(doc),
                other => Err(StepsError::config(format!(
                    "{}: document {i}: expected an object, got {other}",
                    path.display()
                ))),
            }
        })
        .collect()
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Per collection: (name, documents loaded, documents counted afterwards).
pub type LoadReport = Vec<(String, usize, u64)>;

/// Drops and reloads every collection, then checks required_count. Data files are all
/// read and parsed first, so a bad file changes nothing in the database.
pub fn load(uri: &str, config: &MongoConfig, task_id: Option<&str>) -> Result<LoadReport> {
    let mut loaded = Vec::new();
    for c in &config.collections {
        let mut docs = match &c.data_file {
            Some(file) => read_documents(file)?,
            None => vec![],
        };
        if let Some(task_id) = task_id {
            for doc in &mut docs {
                doc.insert("taskId", task_id);
            }
        }
        loaded.push((c, docs));
    }
    block_on(async {
        let db = connect(uri).await?.database(&config.database);
        let mut report = Vec::new();
        for (c, docs) in loaded {
            let coll = db.collection::<Document>(&c.name);
            let failed = |doing: &str, e: mongodb::error::Error| {
                StepsError::data(format!(
                    "MongoDB at {uri}: collection '{}.{}': {doing}: {e}",
                    config.database, c.name
                ))
            };
            coll.drop().await.map_err(|e| failed("drop", e))?;
            if c.data_file.is_none() {
                db.create_collection(&c.name)
                    .await
                    .map_err(|e| failed("create", e))?;
            }
            if !docs.is_empty() {
                coll.insert_many(&docs)
                    .await
                    .map_err(|e| failed("insert", e))?;
            }
            let count = coll
                .count_documents(Document::new())
                .await
                .map_err(|e| failed("count", e))?;
            if let (Some(required), Some(file)) = (c.required_count, &c.data_file) {
                if count < required {
                    return Err(StepsError::data(format!(
                        "collection '{}': {count} documents found after loading {}, {required} required (required_count)",
                        c.name,
                        file.display()
                    )));
                }
            }
            report.push((c.name.clone(), docs.len(), count));
        }
        Ok(report)
    })
}

/// prometheus-test's round count: the task's documents in `collection`, plus one. Err
/// naming the key when the collection does not exist.
pub fn count_rounds(
    uri: &str,
    database: &str,
    collection: &str,
    task_id: Option<&str>,
) -> Result<u32> {
    block_on(async {
        let db = connect(uri).await?.database(database);
        let failed = |e: mongodb::error::Error| {
            StepsError::data(format!(
                "MongoDB at {uri}: counting '{database}.{collection}': {e}"
            ))
        };
        let names = db.list_collection_names().await.map_err(failed)?;
        if !names.iter().any(|n| n == collection) {
            return Err(StepsError::config(format!(
                "rounds_collection: collection '{collection}' does not exist in '{database}' (set max_rounds, or rounds_collection to a collection that holds one document per round)"
            )));
        }
        let mut filter = Document::new();
        if let Some(task_id) = task_id {
            filter.insert("taskId", task_id);
        }
        let n = db
            .collection::<Document>(collection)
            .count_documents(filter)
            .await
            .map_err(failed)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX - 1) + 1)
    })
}

async fn connect(uri: &str) -> Result<Client> {
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|e| StepsError::config(format!("MONGO_URI {uri:?}: {e}")))?;
    options.server_selection_timeout = Some(SERVER_SELECTION);
    options.app_name = Some("trialrun".into());
    Client::with_options(options).map_err(|e| StepsError::data(format!("MongoDB at {uri}: {e}")))
}

/// The driver is async; a current-thread runtime per call keeps tokio off every other
/// thread (loads happen once per run).
fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StepsError::data(format!("cannot start the MongoDB client's runtime: {e}")))?
        .block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("trialrun-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn extended_json_oid_and_date_become_bson_types() {
        let path = write(
            "ext.json",
            r#"[{"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "at": {"$date": "2024-01-02T03:04:05Z"},
                "n": {"$date": {"$numberLong": "1700000000000"}}, "name": "x"}]"#,
        );
        let docs = read_documents(&path).unwrap();
        assert_eq!(docs.len(), 1);
        assert!(matches!(docs[0].get("_id"), Some(Bson::ObjectId(_))));
        match docs[0].get("at") {
            Some(Bson::DateTime(d)) => assert_eq!(d.timestamp_millis(), 1_704_164_645_000),
            other => panic!("{other:?}"),
        }
        assert!(matches!(docs[0].get("n"), Some(Bson::DateTime(_))));
        assert_eq!(docs[0].get_str("name").unwrap(), "x");
    }

    #[test]
    fn bad_files_name_the_file_line_and_document() {
        let err = read_documents(&write("broken.json", "[\n{\"a\": 1},\n{oops}\n]")).unwrap_err();
        assert!(err.message.contains("broken.json: line 3"), "{err}");
        let err = read_documents(&write("scalar.json", "[{\"a\": 1}, 5]")).unwrap_err();
        assert!(err.message.contains("document 1"), "{err}");
        let err =
            read_documents(&write("bad-oid.json", r#"[{"_id": {"$oid": "nothex"}}]"#)).unwrap_err();
        assert!(err.message.contains("bad-oid.json: document 0"), "{err}");
        let err = read_documents(&write("str.json", "\"x\"")).unwrap_err();
        assert!(err.message.contains("expected an array"), "{err}");
    }
}
