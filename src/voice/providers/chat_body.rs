//! An OpenAI chat-completions body (all but `model`) read into a [`ChatRequest`]: what
//! Python code hands `LanguageModel.chat`. The inverse of `openai::chat_request_fields`.
//! Errors name the field (`messages[2].role`) and what was expected.

use serde_json::{Map, Value};

use super::{ChatRequest, Message, ResponseFormat, Role, Tool, ToolCall, ToolChoice};

/// Reads `body`; unknown fields are refused so that a misspelt option is not ignored.
pub fn chat_request_from_body(body: &Map<String, Value>) -> Result<ChatRequest, String> {
    const KNOWN: [&str; 7] = [
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
    ];
    if let Some(unknown) = body.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!(
            "{unknown:?} is not a chat field trialrun sends (it sends {})",
            KNOWN.join(", ")
        ));
    }
    let messages = match body.get("messages") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, m)| message(i, m))
            .collect::<Result<_, _>>()?,
        _ => return Err("messages must be a non-empty list of messages".into()),
    };
    let tools = match body.get("tools") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, t)| tool(i, t))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("tools must be a list".into()),
    };
    let max_tokens = match (body.get("max_tokens"), body.get("max_completion_tokens")) {
        (Some(v), None) | (None, Some(v)) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or("max_tokens must be a positive whole number")?,
        ),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err("give max_tokens or max_completion_tokens, not both".into())
        }
    };
    Ok(ChatRequest {
        messages,
        tools,
        tool_choice: body.get("tool_choice").map(tool_choice).transpose()?,
        response_format: body
            .get("response_format")
            .map(response_format)
            .transpose()?,
        temperature: match body.get("temperature") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_f64().ok_or("temperature must be a number")? as f32),
        },
        max_tokens,
    })
}

fn str_field<'a>(object: &'a Value, key: &str, at: &str) -> Result<Option<&'a str>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{at}.{key} must be a string")),
    }
}

fn message(i: usize, value: &Value) -> Result<Message, String> {
    let at = format!("messages[{i}]");
    if !value.is_object() {
        return Err(format!("{at} must be a dict with role and content"));
    }
    let role = match str_field(value, "role", &at)? {
        Some("system") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        other => {
            return Err(format!(
                "{at}.role must be system, user, assistant or tool, not {other:?}"
            ))
        }
    };
    let content = str_field(value, "content", &at)?.map(str::to_string);
    let tool_call_id = str_field(value, "tool_call_id", &at)?.map(str::to_string);
    let tool_calls = match value.get("tool_calls") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(calls)) => calls
            .iter()
            .enumerate()
            .map(|(j, c)| tool_call(&format!("{at}.tool_calls[{j}]"), c))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{at}.tool_calls must be a list")),
    };
    if content.is_none() && tool_calls.is_empty() {
        return Err(format!("{at} has no content"));
    }
    if role == Role::Tool && tool_call_id.is_none() {
        return Err(format!("{at}: a tool message needs tool_call_id"));
    }
    Ok(Message {
        role,
        content,
        tool_call_id,
        tool_calls,
    })
}

/// A tool call as OpenAI writes it: {id, type: function, function: {name, arguments}}, the
/// arguments a JSON text (or already an object).
fn tool_call(at: &str, value: &Value) -> Result<ToolCall, String> {
    let function = value
        .get("function")
        .filter(|f| f.is_object())
        .ok_or(format!("{at}.function must be a dict"))?;
    let name = str_field(function, "name", &format!("{at}.function"))?
        .ok_or(format!("{at}.function.name is missing"))?;
    let arguments = match function.get("arguments") {
        Some(Value::String(text)) => serde_json::from_str(text)
            .map_err(|e| format!("{at}.function.arguments is not JSON: {e}"))?,
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Err(format!("{at}.function.arguments must be a JSON object")),
    };
    Ok(ToolCall {
        id: str_field(value, "id", at)?.unwrap_or_default().to_string(),
        name: name.to_string(),
        arguments,
    })
}

fn tool(i: usize, value: &Value) -> Result<Tool, String> {
    let at = format!("tools[{i}]");
    if value.get("type").and_then(Value::as_str) != Some("function") {
        return Err(format!("{at}.type must be \"function\""));
    }
    let function = value
        .get("function")
        .filter(|f| f.is_object())
        .ok_or(format!("{at}.function must be a dict"))?;
    let fat = format!("{at}.function");
    Ok(Tool {
        name: str_field(function, "name", &fat)?
            .ok_or(format!("{fat}.name is missing"))?
            .to_string(),
        description: str_field(function, "description", &fat)?.map(str::to_string),
        parameters: match function.get("parameters") {
            None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => return Err(format!("{fat}.parameters must be a JSON schema object")),
        },
    })
}

fn tool_choice(value: &Value) -> Result<ToolChoice, String> {
    match value {
        Value::String(s) if s == "auto" => Ok(ToolChoice::Auto),
        Value::Object(_) => value
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Function(name.to_string()))
            .ok_or_else(|| {
                "tool_choice must be \"auto\" or {type: function, function: {name}}".into()
            }),
        _ => Err("tool_choice must be \"auto\" or {type: function, function: {name}}".into()),
    }
}

fn response_format(value: &Value) -> Result<ResponseFormat, String> {
    match value.get("type").and_then(Value::as_str) {
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let spec = value
                .get("json_schema")
                .filter(|s| s.is_object())
                .ok_or("response_format.json_schema must be a dict")?;
            Ok(ResponseFormat::JsonSchema {
                name: str_field(spec, "name", "response_format.json_schema")?
                    .unwrap_or("answer")
                    .to_string(),
                schema: spec
                    .get("schema")
                    .filter(|s| s.is_object())
                    .cloned()
                    .ok_or("response_format.json_schema.schema must be a JSON schema object")?,
                strict: spec.get("strict").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        _ => Err("response_format.type must be json_object or json_schema".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::providers::openai::{chat_request_fields, MaxTokensField};
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn reads_back_what_the_openai_client_writes() {
        let request = ChatRequest {
            messages: vec![
                Message::system("Judge."),
                Message::user("Is it right?"),
                Message {
                    role: Role::Assistant,
                    content: None,
                    tool_call_id: None,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "select_answer".into(),
                        arguments: json!({"answer": "Yes"}),
                    }],
                },
                Message {
                    role: Role::Tool,
                    content: Some("ok".into()),
                    tool_call_id: Some("call_1".into()),
                    tool_calls: vec![],
                },
            ],
            tools: vec![Tool {
                name: "select_answer".into(),
                description: Some("Pick one".into()),
                parameters: json!({"type": "object", "properties": {"answer": {"type": "string"}}}),
            }],
            tool_choice: Some(ToolChoice::Function("select_answer".into())),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "verdict".into(),
                schema: json!({"type": "object"}),
                strict: true,
            }),
            temperature: Some(0.0),
            max_tokens: Some(50),
        };
        for field in [
            MaxTokensField::MaxTokens,
            MaxTokensField::MaxCompletionTokens,
        ] {
            let written = chat_request_fields(&request, field);
            assert_eq!(chat_request_from_body(&written).unwrap(), request);
        }
        let auto = chat_request_from_body(&body(json!({
            "messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"
        })))
        .unwrap();
        assert_eq!(auto.tool_choice, Some(ToolChoice::Auto));
    }

    #[test]
    fn bad_bodies_are_refused_naming_the_field() {
        let cases = [
            (json!({}), "messages must be a non-empty list"),
            (
                json!({"messages": [{"role": "robot", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"messages": [{"role": "user"}]}),
                "messages[0] has no content",
            ),
            (
                json!({"messages": [{"role": "tool", "content": "x"}]}),
                "tool_call_id",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "x"}]}),
                "tools[0].type",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "any"}),
                "tool_choice",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "temperatur": 0}),
                "\"temperatur\" is not a chat field",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
                "max_tokens",
            ),
        ];
        for (value, expected) in cases {
            let error = chat_request_from_body(&body(value.clone())).unwrap_err();
            assert!(error.contains(expected), "{value}: {error}");
        }
    }
}
