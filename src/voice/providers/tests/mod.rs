//! The providers against loopback servers that play each vendor: they record what they
//! receive (the tests check it) and answer with the vendor's documented shapes.

use axum::http::Method;

pub(super) use super::fake_vendor::{quick_retry, FakeVendor, Reply};

mod cartesia;
mod common;
mod deepgram;
mod elevenlabs;
mod openai;

/// One part of a multipart/form-data body.
#[derive(Debug)]
pub(super) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

impl Part {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.data).unwrap()
    }
}

/// Splits a multipart/form-data body (RFC 7578) into its parts.
pub(super) fn multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .expect("a boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut starts = vec![];
    let mut i = 0;
    while i + delimiter.len() <= body.len() {
        if body[i..].starts_with(&delimiter) {
            starts.push(i);
            i += delimiter.len();
        } else {
            i += 1;
        }
    }
    let mut parts = vec![];
    for pair in starts.windows(2) {
        let chunk = &body[pair[0] + delimiter.len()..pair[1]];
        let chunk = chunk.strip_prefix(b"\r\n").unwrap();
        let chunk = chunk.strip_suffix(b"\r\n").unwrap();
        let split = chunk
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part headers");
        let head = std::str::from_utf8(&chunk[..split]).unwrap();
        let data = chunk[split + 4..].to_vec();
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            data,
        };
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').unwrap();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for item in value.split(';').map(str::trim) {
                        if let Some(v) = item.strip_prefix("name=") {
                            part.name = v.trim_matches('"').to_string();
                        }
                        if let Some(v) = item.strip_prefix("filename=") {
                            part.filename = Some(v.trim_matches('"').to_string());
                        }
                    }
                }
                "content-type" => part.content_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
        parts.push(part);
    }
    parts
}

/// A short test tone as mono PCM.
pub(super) fn tone(rate: u32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            ((i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 8000.0) as i16
        })
        .collect()
}

/// Samples as raw 16-bit little-endian bytes.
pub(super) fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}
