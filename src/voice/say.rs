//! The loopback carrier's `<Say>` spoken by any text-to-speech provider: the carrier knows
//! only its `SayVoice` port; this adapter is the one place a provider fills it.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::telephony::loopback::SayVoice;
use crate::voice::providers::TextToSpeech;

/// `<Say>` through `tts` (its `synthesize_for_say` picks the voice).
pub struct SayWith(pub Arc<dyn TextToSpeech>);

impl SayVoice for SayWith {
    fn say<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
        language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(u32, Vec<i16>), String>> {
        Box::pin(async move {
            let audio = self
                .0
                .synthesize_for_say(text, voice, language)
                .await
                .map_err(|e| e.to_string())?;
            Ok((audio.rate, audio.samples))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::providers::{Audio16, ProviderError};
    use std::sync::Mutex;

    /// Records what it was asked; speaks one sample per character at 16 kHz.
    #[derive(Default)]
    struct Recording(Mutex<Vec<(String, Option<String>)>>);

    impl TextToSpeech for Recording {
        fn synthesize<'a>(
            &'a self,
            text: &'a str,
            voice: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
            self.0
                .lock()
                .unwrap()
                .push((text.to_string(), voice.map(str::to_string)));
            Box::pin(async move { Ok(Audio16::new(16_000, vec![7; text.len()])) })
        }
    }

    #[tokio::test]
    async fn a_provider_speaks_say_with_its_own_voice_not_twilios() {
        let tts = Arc::new(Recording::default());
        let say = SayWith(tts.clone());
        let (rate, pcm) = say
            .say("Hello", Some("Polly.Joanna"), Some("en-GB"))
            .await
            .unwrap();
        assert_eq!((rate, pcm), (16_000, vec![7; 5]));
        assert_eq!(*tts.0.lock().unwrap(), [("Hello".to_string(), None)]);
    }
}
