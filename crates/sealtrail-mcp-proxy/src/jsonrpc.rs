//! JSON-RPC 2.0 messages as the recorder and the policy see them.
//!
//! This parses a *copy* of what was relayed; the relayed bytes are never
//! re-encoded. Objects are read through `serde_json::Value`, where a repeated
//! member keeps its last value, as Python's `json` (the MCP SDK) does: the
//! policy must judge the same `name` the server will act on.

use serde_json::{Map, Value};

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The agent (MCP client).
    Client,
    /// The MCP server.
    Server,
}

impl Side {
    /// `client_to_server` or `server_to_client`, as recorded.
    pub fn direction(self) -> &'static str {
        match self {
            Side::Client => "client_to_server",
            Side::Server => "server_to_client",
        }
    }
}

/// A JSON-RPC request id, kept as sent (string or number).
#[derive(Debug, Clone, PartialEq)]
pub struct Id(pub Value);

impl Id {
    /// A key that tells `1` from `"1"`.
    pub fn key(&self) -> String {
        self.0.to_string()
    }

    /// The id as a label: a string as is, a number in its JSON form.
    pub fn label(&self) -> String {
        match &self.0 {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// One JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request {
        id: Id,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
        params: Option<Value>,
    },
    Response {
        id: Id,
        result: Value,
    },
    Error {
        /// `None` when the id was `null` (e.g. an answer to unparseable input).
        id: Option<Id>,
        error: Value,
    },
}

/// What one relayed JSON text turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    One(Message),
    /// A JSON array (JSON-RPC batch, allowed by MCP 2025-03-26): each member
    /// on its own.
    Batch(Vec<Result<Message, String>>),
    /// Not a JSON-RPC message; why.
    Malformed(String),
}

/// Parses one complete JSON text (a stdio line, an HTTP body, an SSE `data`).
pub fn parse(bytes: &[u8]) -> Parsed {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Parsed::Malformed(format!("invalid JSON: {e}")),
    };
    match value {
        Value::Array(items) if items.is_empty() => Parsed::Malformed("empty batch".into()),
        Value::Array(items) => Parsed::Batch(items.into_iter().map(message).collect()),
        other => match message(other) {
            Ok(m) => Parsed::One(m),
            Err(why) => Parsed::Malformed(why),
        },
    }
}

/// Classifies one JSON value as a JSON-RPC 2.0 message.
pub fn message(value: Value) -> Result<Message, String> {
    let Value::Object(mut obj) = value else {
        return Err("not a JSON object".into());
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("\"jsonrpc\" is not \"2.0\"".into());
    }
    let id = match obj.remove("id") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(Some(Id(v))),
        Some(_) => return Err("\"id\" is neither a string nor a number".into()),
    };
    if let Some(method) = obj.remove("method") {
        let Value::String(method) = method else {
            return Err("\"method\" is not a string".into());
        };
        let params = obj.remove("params");
        return match id {
            None => Ok(Message::Notification { method, params }),
            Some(Some(id)) => Ok(Message::Request { id, method, params }),
            Some(None) => Err("request id is null".into()),
        };
    }
    if let Some(error) = obj.remove("error") {
        return Ok(Message::Error {
            id: id.flatten(),
            error,
        });
    }
    match (obj.remove("result"), id) {
        (Some(result), Some(Some(id))) => Ok(Message::Response { id, result }),
        (Some(_), _) => Err("response without an id".into()),
        (None, _) => Err("neither a request, a notification nor a response".into()),
    }
}

/// `params.name` of a request, when it is a string.
pub fn param_str<'a>(params: Option<&'a Value>, key: &str) -> Option<&'a str> {
    params?.get(key)?.as_str()
}

/// A JSON-RPC error answer to `id` (raw JSON of the id, as the client sent it).
pub fn error_response(id: &Value, code: i64, message: &str, data: Option<Value>) -> Vec<u8> {
    let mut error = Map::new();
    error.insert("code".into(), code.into());
    error.insert("message".into(), message.into());
    if let Some(d) = data {
        error.insert("data".into(), d);
    }
    let mut out = Map::new();
    out.insert("jsonrpc".into(), "2.0".into());
    out.insert("id".into(), id.clone());
    out.insert("error".into(), Value::Object(error));
    // Serialising a Value of strings and numbers cannot fail.
    serde_json::to_vec(&Value::Object(out)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_messages() {
        let r = parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#);
        let Parsed::One(Message::Request { id, method, params }) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            (id.key(), id.label(), method.as_str()),
            ("7".into(), "7".into(), "tools/call")
        );
        assert_eq!(param_str(params.as_ref(), "name"), Some("x"));

        let r = parse(br#"{"jsonrpc":"2.0","id":"7","result":{}}"#);
        let Parsed::One(Message::Response { id, .. }) = r else {
            panic!("{r:?}")
        };
        assert_eq!((id.key(), id.label()), ("\"7\"".into(), "7".into()));

        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Parsed::One(Message::Notification { .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#),
            Parsed::One(Message::Error { id: None, .. })
        ));
    }

    #[test]
    fn malformed_is_an_answer_not_a_panic() {
        for bad in [
            &b"not json"[..],
            b"{\"jsonrpc\":\"2.0\"}",
            b"{\"id\":1,\"method\":\"x\"}",
            b"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":3}",
            b"[]",
            b"42",
            b"",
        ] {
            assert!(matches!(parse(bad), Parsed::Malformed(_)), "{bad:?}");
        }
        let Parsed::Batch(items) = parse(br#"[{"jsonrpc":"2.0","id":1,"method":"a"}, 5]"#) else {
            panic!()
        };
        assert!(items[0].is_ok() && items[1].is_err());
    }

    #[test]
    fn repeated_member_keeps_the_last_value_like_python() {
        let r = parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","name":"evil"}}"#);
        let Parsed::One(Message::Request { params, .. }) = r else {
            panic!()
        };
        assert_eq!(param_str(params.as_ref(), "name"), Some("evil"));
    }

    #[test]
    fn error_response_keeps_the_id() {
        let v: Value =
            serde_json::from_slice(&error_response(&json!("a"), -32010, "no", None)).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc":"2.0","id":"a","error":{"code":-32010,"message":"no"}})
        );
    }
}
