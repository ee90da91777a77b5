//! The Goertzel algorithm: the power of a single frequency in a block of samples.

/// Squared magnitude of the DFT of `samples` at `freq` Hz (any frequency, not only bins).
pub fn goertzel_power(samples: &[f32], freq: f32, rate: u32) -> f32 {
    let omega = 2.0 * std::f32::consts::PI * freq / rate as f32;
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0)
}

/// Estimated peak amplitude of a sinusoid at `freq` Hz in 16-bit samples.
pub fn tone_amplitude(samples: &[i16], freq: f32, rate: u32) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let floats: Vec<f32> = samples.iter().map(|&s| f32::from(s)).collect();
    2.0 * goertzel_power(&floats, freq, rate).sqrt() / samples.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_tone_amplitude_and_rejects_other_frequencies() {
        let tone: Vec<i16> = (0..8000)
            .map(|i| {
                (10000.0 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 8000.0).sin()) as i16
            })
            .collect();
        assert!((tone_amplitude(&tone, 1000.0, 8000) - 10000.0).abs() < 50.0);
        assert!(tone_amplitude(&tone, 1500.0, 8000) < 50.0);
        assert_eq!(tone_amplitude(&[], 1000.0, 8000), 0.0);
    }
}
