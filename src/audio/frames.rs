//! 20 ms framing of PCM audio (the Twilio Media Streams frame size) and frame levels.

/// Length of one telephony frame in milliseconds.
pub const FRAME_MS: u32 = 20;

/// Samples in one 20 ms frame at 8 kHz (also bytes in one mu-law frame).
#[cfg(test)]
pub const SAMPLES_PER_FRAME_8K: usize = 160;

/// Level reported for digital silence, in dBFS (instead of minus infinity).
pub const SILENCE_DBFS: f32 = -120.0;

/// Number of samples in a frame of `frame_ms` milliseconds at `rate` Hz.
pub fn samples_per_frame(rate: u32, frame_ms: u32) -> usize {
    (u64::from(rate) * u64::from(frame_ms) / 1000) as usize
}

/// Splits PCM into frames of `frame_len` (> 0) samples; the last one is padded with silence.
#[cfg(test)]
pub fn split_frames(pcm: &[i16], frame_len: usize) -> Vec<Vec<i16>> {
    assert!(frame_len > 0, "frame length must be positive");
    pcm.chunks(frame_len)
        .map(|chunk| {
            let mut frame = chunk.to_vec();
            frame.resize(frame_len, 0);
            frame
        })
        .collect()
}

/// Splits 8 kHz PCM into 20 ms frames of 160 samples, padding the last one with silence.
#[cfg(test)]
pub fn split_frames_8k(pcm: &[i16]) -> Vec<Vec<i16>> {
    split_frames(pcm, SAMPLES_PER_FRAME_8K)
}

/// RMS level of a frame in dBFS (0 dBFS = a full-scale square wave; a full-scale sine is
/// about -3 dBFS); silence and empty frames give [`SILENCE_DBFS`].
pub fn rms_dbfs(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return SILENCE_DBFS;
    }
    // Exact integer squares (each at most 2^30), summed in vector lanes.
    let sum: u64 = frame
        .iter()
        .map(|&s| (i32::from(s) * i32::from(s)) as u64)
        .sum();
    let rms = (sum as f64 / frame.len() as f64).sqrt() / 32768.0;
    if rms <= 0.0 {
        return SILENCE_DBFS;
    }
    ((20.0 * rms.log10()) as f32).max(SILENCE_DBFS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_pads_last_frame() {
        let pcm: Vec<i16> = (1..=350).map(|i| i as i16).collect();
        let frames = split_frames_8k(&pcm);
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.len() == SAMPLES_PER_FRAME_8K));
        assert_eq!(frames[2][29], 350);
        assert_eq!(frames[2][30], 0);
        assert!(split_frames_8k(&[]).is_empty());
    }

    #[test]
    fn frame_sizes() {
        assert_eq!(samples_per_frame(8000, FRAME_MS), SAMPLES_PER_FRAME_8K);
        assert_eq!(samples_per_frame(16000, FRAME_MS), 320);
        assert_eq!(samples_per_frame(24000, FRAME_MS), 480);
    }

    #[test]
    fn rms_levels() {
        assert_eq!(rms_dbfs(&[0; 160]), SILENCE_DBFS);
        assert_eq!(rms_dbfs(&[]), SILENCE_DBFS);
        let square: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 16384 } else { -16384 })
            .collect();
        assert!((rms_dbfs(&square) + 6.02).abs() < 0.01);
        let sine: Vec<i16> = (0..160)
            .map(|i| {
                (32767.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin()) as i16
            })
            .collect();
        assert!((rms_dbfs(&sine) + 3.01).abs() < 0.05);
    }
}
