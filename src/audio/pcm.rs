//! 16-bit little-endian PCM as bytes (what Python, WAV bodies and raw-PCM HTTP answers
//! carry) <-> samples. One place for both directions, and for refusing an odd length rather
//! than dropping the last byte.

use std::fmt;

/// Bytes that cannot be 16-bit samples: their count is odd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OddLength(pub usize);

impl fmt::Display for OddLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "16-bit PCM must have an even number of bytes, not {}",
            self.0
        )
    }
}

impl std::error::Error for OddLength {}

/// Samples as little-endian bytes.
pub fn to_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Little-endian bytes as samples; an odd count is refused.
pub fn from_bytes(bytes: &[u8]) -> Result<Vec<i16>, OddLength> {
    if bytes.len() % 2 != 0 {
        return Err(OddLength(bytes.len()));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_extremes_little_endian() {
        let samples = [0, 1, -1, i16::MIN, i16::MAX, 0x1234];
        let bytes = to_bytes(&samples);
        assert_eq!(&bytes[10..12], &[0x34, 0x12]);
        assert_eq!(from_bytes(&bytes).unwrap(), samples);
        assert_eq!(from_bytes(&[]).unwrap(), Vec::<i16>::new());
    }

    #[test]
    fn odd_lengths_are_refused_and_named() {
        let error = from_bytes(&[1, 2, 3]).unwrap_err();
        assert_eq!(error, OddLength(3));
        assert!(error.to_string().contains("even number of bytes, not 3"));
    }
}
