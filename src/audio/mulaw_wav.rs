//! mu-law WAV files (format tag 7, 8 bits per sample), which hound 3.5 does not read:
//! a minimal RIFF parser and writer.

#[cfg(test)]
use std::path::Path;

use super::mulaw;
use super::wav::{deinterleave, Audio, WavError};

/// WAVE format tag of G.711 mu-law.
const FORMAT_MULAW: u16 = 7;

/// The fields of a `fmt ` chunk used here.
struct Format {
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
}

/// Iterates over the (id, body) chunks of a RIFF/WAVE file; None if not a WAVE file.
fn chunks(bytes: &[u8]) -> Option<impl Iterator<Item = (&[u8], &[u8])>> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut rest = &bytes[12..];
    Some(std::iter::from_fn(move || {
        if rest.len() < 8 {
            return None;
        }
        let id = &rest[0..4];
        let size = u32::from_le_bytes(rest[4..8].try_into().ok()?) as usize;
        let body = &rest[8..rest.len().min(8 + size)];
        let next = (8 + size + (size & 1)).min(rest.len());
        rest = &rest[next..];
        Some((id, body))
    }))
}

fn parse_format(body: &[u8]) -> Option<Format> {
    if body.len() < 16 {
        return None;
    }
    let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
    let rate = u32::from_le_bytes(body[4..8].try_into().ok()?);
    Some(Format {
        tag: u16_at(0),
        channels: u16_at(2),
        rate,
        bits: u16_at(14),
    })
}

fn find_format(bytes: &[u8]) -> Option<Format> {
    chunks(bytes)?
        .find(|(id, _)| id == b"fmt ")
        .and_then(|(_, body)| parse_format(body))
}

/// True if the bytes are a WAVE file whose format tag is mu-law.
pub fn is_mulaw_wav(bytes: &[u8]) -> bool {
    find_format(bytes).is_some_and(|f| f.tag == FORMAT_MULAW)
}

/// Decodes a mu-law WAV held in memory to 16-bit audio.
pub fn parse(bytes: &[u8]) -> Result<Audio, WavError> {
    let format = find_format(bytes).ok_or_else(|| WavError::Unsupported("no fmt chunk".into()))?;
    if format.tag != FORMAT_MULAW || format.bits != 8 || format.channels == 0 {
        return Err(WavError::Unsupported(format!(
            "format tag {} with {} bits and {} channels",
            format.tag, format.bits, format.channels
        )));
    }
    let data = chunks(bytes)
        .and_then(|mut c| c.find(|(id, _)| id == b"data"))
        .map(|(_, body)| body)
        .ok_or_else(|| WavError::Unsupported("mu-law WAV without a data chunk".into()))?;
    let usable = data.len() - data.len() % usize::from(format.channels);
    let pcm = mulaw::decode_all(&data[..usable]);
    Ok(Audio {
        rate: format.rate,
        channels: deinterleave(&pcm, format.channels),
    })
}

/// Encodes mono 16-bit samples as a mu-law WAV file image.
#[cfg(test)]
pub fn encode_mono(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data = mulaw::encode_all(samples);
    let mut out = Vec::with_capacity(58 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(50 + data.len() as u32 + (data.len() as u32 & 1)).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    // fmt chunk: WAVEFORMATEX with cbSize = 0 (18 bytes), as non-PCM formats require.
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_MULAW.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes()); // bytes per second
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(&0u16.to_le_bytes()); // cbSize
                                                // fact chunk: sample count, expected for non-PCM formats.
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// Writes mono 16-bit samples to a mu-law WAV file.
#[cfg(test)]
pub fn write_mono(path: &Path, rate: u32, samples: &[i16]) -> Result<(), WavError> {
    std::fs::write(path, encode_mono(rate, samples))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::wav::{read_wav, read_wav_bytes, tests::temp_path};

    #[test]
    fn mulaw_wav_round_trip() {
        let samples: Vec<i16> = (0..801).map(|i| ((i * 91) % 16000 - 8000) as i16).collect();
        let path = temp_path("mulaw.wav");
        write_mono(&path, 8000, &samples).unwrap();
        let audio = read_wav(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(audio.rate, 8000);
        assert_eq!(audio.channels.len(), 1);
        assert_eq!(
            audio.channels[0],
            mulaw::decode_all(&mulaw::encode_all(&samples))
        );
    }

    #[test]
    fn hound_refuses_mulaw_so_we_parse_it() {
        let bytes = encode_mono(8000, &[0, 100, -100]);
        assert!(hound::WavReader::new(std::io::Cursor::new(&bytes)).is_err());
        assert!(is_mulaw_wav(&bytes));
        assert_eq!(
            read_wav_bytes(&bytes).unwrap().channels[0],
            vec![0, 104, -104]
        );
    }

    #[test]
    fn rejects_non_wave_and_truncated_input() {
        assert!(!is_mulaw_wav(b"RIFF"));
        assert!(!is_mulaw_wav(b"RIFX\0\0\0\0WAVEfmt "));
        let mut bytes = encode_mono(8000, &[1, 2, 3, 4]);
        bytes.truncate(bytes.len() - 12); // cut into the data chunk header
        assert!(parse(&bytes).is_err());
    }
}
