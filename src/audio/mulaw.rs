//! ITU-T G.711 mu-law companding: 14-bit-range linear PCM <-> 8-bit codes, as carried
//! by Twilio Media Streams (8 kHz, one byte per sample).

/// The code for a zero sample: what silence is on a phone line.
pub const SILENCE: u8 = 0xFF;

/// Bias added to the magnitude before finding the segment (G.711: 0x84).
const BIAS: i32 = 0x84;

/// Largest magnitude that is encoded without clipping.
const CLIP: i32 = 32635;

/// Decoded value of every mu-law byte, built at compile time.
const DECODE_TABLE: [i16; 256] = build_decode_table();

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = decode_slow(i as u8);
        i += 1;
    }
    table
}

/// Decodes one byte from its fields (the table above is built from this).
const fn decode_slow(byte: u8) -> i16 {
    let code = !byte;
    let exponent = ((code >> 4) & 0x07) as i32;
    let mantissa = (code & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if code & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes one linear 16-bit sample to a G.711 mu-law byte (0 encodes to 0xFF).
pub fn encode(sample: i16) -> u8 {
    let value = i32::from(sample);
    let sign: u8 = if value < 0 { 0x80 } else { 0 };
    let biased = value.abs().min(CLIP) + BIAS;
    // The segment is the position of the highest set bit among bits 7..=14.
    let exponent = (31 - biased.leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = ((biased >> (exponent + 3)) & 0x0F) as u8;
    !(sign | ((exponent as u8) << 4) | mantissa)
}

/// Decodes one G.711 mu-law byte to a linear 16-bit sample.
pub fn decode(byte: u8) -> i16 {
    DECODE_TABLE[usize::from(byte)]
}

/// Encodes a slice of linear samples to mu-law bytes.
pub fn encode_all(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| encode(s)).collect()
}

/// Decodes a slice of mu-law bytes to linear samples.
pub fn decode_all(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| decode(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width of the quantization interval that holds the code `byte`.
    fn step_of(byte: u8) -> i32 {
        let exponent = i32::from(((!byte) >> 4) & 0x07);
        1 << (exponent + 3)
    }

    #[test]
    fn known_values() {
        assert_eq!(encode(0), 0xFF);
        assert_eq!(decode(0xFF), 0);
        assert_eq!(decode(0x7F), 0);
        assert_eq!(decode(0x80), 32124);
        assert_eq!(decode(0x00), -32124);
        assert_eq!(encode(i16::MAX), 0x80);
        assert_eq!(encode(i16::MIN), 0x00);
        assert_eq!(encode(-1), 0x7F);
        // Segment boundaries of the standard table.
        assert_eq!(decode(0xEF), 132);
        assert_eq!(decode(0xDF), 396);
        assert_eq!(encode(100), 0xF2);
        assert_eq!(decode(0xF2), 104);
    }

    #[test]
    fn round_trip_error_within_half_step() {
        for x in i16::MIN..=i16::MAX {
            let code = encode(x);
            let error = (i32::from(decode(code)) - i32::from(x)).abs();
            let clipped_by = (i32::from(x).abs() - CLIP).max(0);
            assert!(
                error <= step_of(code) / 2 + clipped_by,
                "x={x} code={code:#04x} error={error}"
            );
        }
    }

    #[test]
    fn sign_symmetry() {
        for x in 1..=i16::MAX {
            assert_eq!(encode(-x), encode(x) ^ 0x80, "x={x}");
            assert_eq!(decode(encode(-x)), -decode(encode(x)));
        }
        for byte in 0..=0x7Fu8 {
            assert_eq!(decode(byte), -decode(byte | 0x80));
        }
    }

    #[test]
    fn decode_then_encode_is_identity_except_negative_zero() {
        for byte in 0..=255u8 {
            let expected = if byte == 0x7F { 0xFF } else { byte };
            assert_eq!(encode(decode(byte)), expected, "byte={byte:#04x}");
        }
    }

    #[test]
    fn slice_helpers() {
        let pcm = [0i16, 1000, -1000, 32000, -32000];
        let bytes = encode_all(&pcm);
        assert_eq!(bytes.len(), pcm.len());
        let back = decode_all(&bytes);
        for (a, b) in pcm.iter().zip(&back) {
            assert!((a - b).abs() < 600);
        }
    }
}
