//! An in-process language model for tests: it records every request and answers from a
//! script, so tests can check both what was asked and what is done with the answer.

use std::collections::VecDeque;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use super::{ChatRequest, ChatResponse, LanguageModel, ProviderError, ToolCall};

pub(crate) struct FakeModel {
    requests: Mutex<Vec<ChatRequest>>,
    answers: Mutex<VecDeque<Result<ChatResponse, ProviderError>>>,
}

impl FakeModel {
    /// Answers in order; a request past the last answer panics (the test asked too often).
    pub fn new(answers: Vec<Result<ChatResponse, ProviderError>>) -> Self {
        Self {
            requests: Mutex::new(vec![]),
            answers: Mutex::new(answers.into()),
        }
    }

    /// Every answer a success.
    pub fn answering(answers: Vec<ChatResponse>) -> Self {
        Self::new(answers.into_iter().map(Ok).collect())
    }

    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl LanguageModel for FakeModel {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>> {
        self.requests.lock().unwrap().push(request);
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("the fake model has no answer left for this request");
        Box::pin(std::future::ready(answer))
    }
}

/// An answer with text only.
pub(crate) fn text(content: &str) -> ChatResponse {
    ChatResponse {
        text: Some(content.into()),
        tool_calls: vec![],
        finish_reason: Some("stop".into()),
        usage: None,
    }
}

/// An answer with optional text and tool calls given as (name, arguments).
pub(crate) fn with_tools(
    content: Option<&str>,
    calls: &[(&str, serde_json::Value)],
) -> ChatResponse {
    ChatResponse {
        text: content.map(str::to_string),
        tool_calls: calls
            .iter()
            .enumerate()
            .map(|(i, (name, arguments))| ToolCall {
                id: format!("call_{i}"),
                name: name.to_string(),
                arguments: arguments.clone(),
            })
            .collect(),
        finish_reason: Some(
            if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            }
            .into(),
        ),
        usage: None,
    }
}
