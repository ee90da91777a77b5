//! The power of a single frequency in a block of samples: Goertzel's algorithm, and a bank
//! of precomputed sinusoids that gives the same for a few fixed frequencies, faster.

/// Squared magnitude of the DFT of `samples` at `freq` Hz (any frequency, not only bins).
#[cfg(test)]
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

/// The power `goertzel_power` gives, at a few fixed frequencies, over blocks of a fixed
/// length: |X(f)|^2 from dot products with cosines and sines computed once. A dot product
/// splits into independent lanes the CPU adds side by side, where Goertzel's recurrence
/// waits on each step (a DTMF block with its energy: 700 ns before, 240 ns now).
#[derive(Debug)]
pub struct ToneBank<const N: usize> {
    len: usize,
    /// For each frequency, cos(wn) for n in 0..len, then sin(wn).
    basis: Vec<f32>,
}

impl<const N: usize> ToneBank<N> {
    pub fn new(freqs: &[f32; N], rate: u32, len: usize) -> Self {
        let mut basis = Vec::with_capacity(N * 2 * len);
        for &freq in freqs {
            let omega = 2.0 * std::f64::consts::PI * f64::from(freq) / f64::from(rate);
            basis.extend((0..len).map(|n| (omega * n as f64).cos() as f32));
            basis.extend((0..len).map(|n| (omega * n as f64).sin() as f32));
        }
        Self { len, basis }
    }

    /// Powers of `block` (of the bank's length) at each frequency.
    pub fn powers(&self, block: &[f32]) -> [f32; N] {
        assert_eq!(
            block.len(),
            self.len,
            "a tone bank measures blocks of {} samples",
            self.len
        );
        std::array::from_fn(|k| {
            let (cos, sin) = self.basis[2 * k * self.len..][..2 * self.len].split_at(self.len);
            let (re, im) = (dot(block, cos), dot(block, sin));
            re * re + im * im
        })
    }
}

/// Sum of `a[i] * b[i]`, in eight interleaved partial sums so the additions do not wait on
/// one another (and compile to vector instructions).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let (a_lanes, b_lanes) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_lanes
        .remainder()
        .iter()
        .zip(b_lanes.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut sums = [0.0f32; LANES];
    for (x, y) in a_lanes.zip(b_lanes) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// Estimated peak amplitude of a sinusoid at `freq` Hz in 16-bit samples.
#[cfg(test)]
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
    fn tone_bank_gives_goertzels_power_at_any_frequency() {
        let samples: Vec<f32> = (0..205)
            .map(|n| ((n as f32) * 0.37).sin() + ((n as f32) * 1.1).cos() * 0.5)
            .collect();
        // |X(f)|^2 in double precision.
        let exact = |freq: f32| {
            let omega = 2.0 * std::f64::consts::PI * f64::from(freq) / 8000.0;
            let (re, im) = samples
                .iter()
                .enumerate()
                .fold((0.0, 0.0), |(re, im), (n, &x)| {
                    (
                        re + f64::from(x) * (omega * n as f64).cos(),
                        im + f64::from(x) * (omega * n as f64).sin(),
                    )
                });
            (re * re + im * im) as f32
        };
        let freqs = [
            697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0, 470.5, 3999.0,
        ];
        let bank = ToneBank::new(&freqs, 8000, samples.len());
        for (&freq, power) in freqs.iter().zip(bank.powers(&samples)) {
            let want = exact(freq);
            assert!(
                (power - want).abs() <= 1e-4 * want.max(1.0),
                "{freq} Hz: {power} vs {want}"
            );
            if freq < 2000.0 {
                let goertzel = goertzel_power(&samples, freq, 8000);
                assert!(
                    (power - goertzel).abs() <= 1e-4 * want.max(1.0),
                    "{freq} Hz: {power} vs Goertzel's {goertzel}"
                );
            }
        }
    }

    #[test]
    fn dot_product_covers_the_lanes_and_the_tail() {
        for len in [0, 1, 7, 8, 9, 205] {
            let a: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..len).map(|i| 1.0 + (i % 3) as f32).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_eq!(dot(&a, &b), plain, "length {len}");
        }
    }

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
