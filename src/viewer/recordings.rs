//! `GET /api/recordings/{file}`: a call's two-channel WAV recording, from the run store's
//! recordings folder (`recordings/` beside the store file, where `trialrun.voice`'s
//! TestRunner writes them by default) and from nowhere else.
//!
//! `file` must be a plain file name ending in `.wav`; the file found must still be inside
//! the folder once links are resolved (a link that leads out is refused). One byte range
//! (`Range: bytes=a-b`, `bytes=a-`, `bytes=-n`) is honoured, so the page's `<audio>` can seek.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api::ApiError;
use super::App;

/// The folder recordings are served from: `recordings/` beside the store file.
pub(super) fn recordings_dir(store_path: &Path) -> PathBuf {
    store_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("recordings")
}

/// Where `name` is inside `dir`, or why it may not be served.
pub(super) fn locate(dir: &Path, name: &str) -> Result<PathBuf, ApiError> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.to_ascii_lowercase().ends_with(".wav");
    if !plain {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{name:?} is not a recording's file name (a plain name ending in .wav)"),
        ));
    }
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no recording {name:?} in {}", dir.display()),
        )
    };
    let folder = dir.canonicalize().map_err(|_| missing())?;
    let file = folder.join(name).canonicalize().map_err(|_| missing())?;
    if !file.starts_with(&folder) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "recording {name:?} leads outside {}: not served",
                dir.display()
            ),
        ));
    }
    if !file.is_file() {
        return Err(missing());
    }
    Ok(file)
}

/// The byte range `header` asks of a body of `len` bytes: Ok(None) for the whole body,
/// Err(()) for a range that cannot be served (416).
fn byte_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: the whole body is a valid answer
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (start, "") => (start.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (start, end) => (
            start.parse().map_err(|_| ())?,
            end.parse::<u64>()
                .map_err(|_| ())?
                .min(len.saturating_sub(1)),
        ),
    };
    if len == 0 || start > end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

pub(super) async fn recording(
    State(app): State<Arc<App>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let dir = recordings_dir(&app.store_path);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let read = tokio::task::spawn_blocking(move || {
        let file = locate(&dir, &name)?;
        std::fs::read(&file).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read recording {name:?}: {e}"),
            )
        })
    })
    .await;
    let body = match read {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    };
    let len = body.len() as u64;
    let common = [
        (header::CONTENT_TYPE, "audio/wav".to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
    ];
    match byte_range(range.as_deref(), len) {
        Ok(None) => (StatusCode::OK, common, body).into_response(),
        Ok(Some((start, end))) => {
            let part = body[start as usize..=end as usize].to_vec();
            (
                StatusCode::PARTIAL_CONTENT,
                common,
                [(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))],
                part,
            )
                .into_response()
        }
        Err(()) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{len}"))],
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-"), 100), Ok(Some((0, 99))));
        assert_eq!(byte_range(Some("bytes=10-19"), 100), Ok(Some((10, 19))));
        assert_eq!(byte_range(Some("bytes=90-500"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=5-2"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=x-"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Ok(None));
    }

    #[test]
    fn only_plain_wav_names_inside_the_folder() {
        let dir = crate::store::test_support::TestDir::new("recordings");
        let folder = dir.path().join("recordings");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("CA1.wav"), b"RIFF").unwrap();
        std::fs::write(dir.path().join("outside.wav"), b"RIFF").unwrap();
        assert_eq!(
            locate(&folder, "CA1.wav").unwrap(),
            folder.canonicalize().unwrap().join("CA1.wav")
        );
        for (name, status) in [
            ("../outside.wav", StatusCode::BAD_REQUEST),
            ("..", StatusCode::BAD_REQUEST),
            ("CA1.txt", StatusCode::BAD_REQUEST),
            (".hidden.wav", StatusCode::BAD_REQUEST),
            ("missing.wav", StatusCode::NOT_FOUND),
        ] {
            assert_eq!(
                locate(&folder, name).unwrap_err().status(),
                status,
                "{name}"
            );
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("outside.wav"), folder.join("link.wav"))
                .unwrap();
            assert_eq!(
                locate(&folder, "link.wav").unwrap_err().status(),
                StatusCode::FORBIDDEN
            );
        }
    }
}
