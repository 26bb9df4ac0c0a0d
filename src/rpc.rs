//! The RPC envelope carried in SBP Message frames (JSON v1). No I/O, no clock.
//!
//! | subject | envelopes | JSON |
//! |---|---|---|
//! | `rpc` | request `r` | `{"t":"r","m":METHOD,"p"?:PARAMS,"cid":CID}` |
//! | `rpc` | response `R` | `{"t":"R","cid":CID,"result"?:…}` |
//! | `rpc` | error `E` | `{"t":"E","cid":CID,"code":N,"message":…,"data"?:…}` |
//! | `event` | notification `N` | `{"t":"N","e":NAME,"d"?:…}` |
//!
//! `cid` is the request frame's frame id as 32 lowercase hex digits; responses copy it. Faults
//! carry the registry names: a malformed envelope is `InvalidEnvelope` (1100), an envelope on a
//! subject it does not belong to is `EnvelopeMismatch` (1104), the reserved `stream` subject is
//! `UnsupportedFeature` (1003).
//!
//! Stricter than the reference (see `docs/sbp.md`): `cid` must be lowercase (the reference's
//! check accepts uppercase and then fails to convert it), and `code` must be an integer.
//!
//! ```
//! use sbrp::rpc::Envelope;
//! use sbrp::sbp::FrameId;
//! let cid = FrameId([1; 16]);
//! let req = Envelope::request("$sideband/echo", Some(serde_json::json!("hi")), cid);
//! let back = Envelope::decode("rpc", &req.encode()).unwrap().unwrap();
//! assert_eq!(back, req);
//! ```

use serde_json::{Map, Value};

use crate::sbp::{Channel, FrameId, SubjectError, WireCode};

/// Reserved method: returns its params.
pub const METHOD_ECHO: &str = "$sideband/echo";
/// Reserved method: daemon identity and capabilities.
pub const METHOD_INFO: &str = "$sideband/info";
/// Reserved method: the registered method names, sorted.
pub const METHOD_LIST: &str = "$sideband/rpc.list";
/// Reserved method: sparse descriptions of methods.
pub const METHOD_DESCRIBE: &str = "$sideband/rpc.describe";
/// The prefix reserved for platform methods.
pub const RESERVED_PREFIX: &str = "$sideband/";

/// One RPC envelope.
#[derive(Clone, Debug, PartialEq)]
pub enum Envelope {
    /// `r`.
    Request {
        /// `m`.
        method: String,
        /// `p`.
        params: Option<Value>,
        /// `cid`.
        cid: FrameId,
    },
    /// `R`.
    Response {
        /// `cid`.
        cid: FrameId,
        /// `result`.
        result: Option<Value>,
    },
    /// `E`.
    Error {
        /// `cid`.
        cid: FrameId,
        /// `code`.
        code: i64,
        /// `message`.
        message: String,
        /// `data`.
        data: Option<Value>,
    },
    /// `N`.
    Notification {
        /// `e`.
        event: String,
        /// `d`.
        data: Option<Value>,
    },
}

/// Why a Message's data is not a valid envelope for its subject.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// Not JSON, or not an object.
    #[error("InvalidEnvelope: {0}")]
    Json(String),
    /// `t` missing or not one of `r`, `R`, `E`, `N`.
    #[error("InvalidEnvelope: envelope type {0} is none of \"r\", \"R\", \"E\", \"N\"")]
    Type(String),
    /// A required field missing or of the wrong JSON type.
    #[error("InvalidEnvelope: {t:?} envelope: {field:?} is {problem}")]
    Field {
        /// The envelope type.
        t: char,
        /// The field.
        field: &'static str,
        /// `missing`, `not a string`, …
        problem: &'static str,
    },
    /// A `cid` that is not 32 lowercase hex digits.
    #[error("InvalidEnvelope: cid {0:?} is not 32 lowercase hex digits")]
    Cid(String),
    /// An envelope type that does not belong on its subject.
    #[error(
        "EnvelopeMismatch: a \"{t}\" envelope on subject {subject:?} (rpc carries r, R, E; event carries N)"
    )]
    Mismatch {
        /// The envelope type.
        t: char,
        /// The subject's channel.
        subject: &'static str,
    },
    /// The reserved `stream` channel.
    #[error("UnsupportedFeature: the stream subject is reserved for SBP v2")]
    Stream,
    /// The subject itself is invalid.
    #[error("ProtocolViolation: {0}")]
    Subject(SubjectError),
}

impl RpcError {
    /// The registry code.
    pub fn code(&self) -> WireCode {
        match self {
            Self::Mismatch { .. } => WireCode::EnvelopeMismatch,
            Self::Stream => WireCode::UnsupportedFeature,
            Self::Subject(_) => WireCode::ProtocolViolation,
            _ => WireCode::InvalidEnvelope,
        }
    }
}

impl Envelope {
    /// A request.
    pub fn request(method: impl Into<String>, params: Option<Value>, cid: FrameId) -> Self {
        Self::Request {
            method: method.into(),
            params,
            cid,
        }
    }

    /// The one-letter type (`r`, `R`, `E`, `N`).
    pub const fn t(&self) -> char {
        match self {
            Self::Request { .. } => 'r',
            Self::Response { .. } => 'R',
            Self::Error { .. } => 'E',
            Self::Notification { .. } => 'N',
        }
    }

    /// The correlation id, for everything but notifications.
    pub const fn cid(&self) -> Option<FrameId> {
        match self {
            Self::Request { cid, .. } | Self::Response { cid, .. } | Self::Error { cid, .. } => {
                Some(*cid)
            }
            Self::Notification { .. } => None,
        }
    }

    /// The subject this envelope travels on (`rpc` or `event`).
    pub const fn subject(&self) -> &'static str {
        match self {
            Self::Notification { .. } => "event",
            _ => "rpc",
        }
    }

    /// Decodes the data of a Message on `subject`: `Ok(None)` for `app/…` subjects, which
    /// carry vendor data, not envelopes.
    pub fn decode(subject: &str, data: &[u8]) -> Result<Option<Self>, RpcError> {
        let channel = Channel::of(subject).map_err(RpcError::Subject)?;
        let name = match channel {
            Channel::App => return Ok(None),
            Channel::Stream => return Err(RpcError::Stream),
            Channel::Rpc => "rpc",
            Channel::Event => "event",
        };
        let env = Self::parse(data)?;
        let fits = matches!(
            (channel, &env),
            (
                Channel::Rpc,
                Self::Request { .. } | Self::Response { .. } | Self::Error { .. }
            ) | (Channel::Event, Self::Notification { .. })
        );
        if !fits {
            return Err(RpcError::Mismatch {
                t: env.t(),
                subject: name,
            });
        }
        Ok(Some(env))
    }

    /// Parses an envelope without looking at the subject.
    pub fn parse(data: &[u8]) -> Result<Self, RpcError> {
        let value: Value =
            serde_json::from_slice(data).map_err(|e| RpcError::Json(format!("not JSON ({e})")))?;
        let Value::Object(mut obj) = value else {
            return Err(RpcError::Json("not a JSON object".into()));
        };
        let t = match obj.get("t") {
            Some(Value::String(s)) if matches!(s.as_str(), "r" | "R" | "E" | "N") => {
                s.chars().next().unwrap_or('?')
            }
            Some(Value::String(s)) => return Err(RpcError::Type(format!("{s:?}"))),
            Some(other) => return Err(RpcError::Type(other.to_string())),
            None => return Err(RpcError::Type("(missing)".into())),
        };
        let string = |obj: &mut Map<String, Value>, field: &'static str| match obj.remove(field) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(RpcError::Field {
                t,
                field,
                problem: "not a string",
            }),
            None => Err(RpcError::Field {
                t,
                field,
                problem: "missing",
            }),
        };
        let cid = |obj: &mut Map<String, Value>| {
            let s = string(obj, "cid")?;
            FrameId::from_hex(&s).ok_or(RpcError::Cid(s))
        };
        Ok(match t {
            'r' => {
                let method = string(&mut obj, "m")?;
                let cid = cid(&mut obj)?;
                Self::Request {
                    method,
                    params: obj.remove("p"),
                    cid,
                }
            }
            'R' => Self::Response {
                cid: cid(&mut obj)?,
                result: obj.remove("result"),
            },
            'E' => {
                let cid = cid(&mut obj)?;
                let code = match obj.remove("code") {
                    Some(Value::Number(n)) => n.as_i64().ok_or(RpcError::Field {
                        t,
                        field: "code",
                        problem: "not an integer",
                    })?,
                    Some(_) => {
                        return Err(RpcError::Field {
                            t,
                            field: "code",
                            problem: "not a number",
                        });
                    }
                    None => {
                        return Err(RpcError::Field {
                            t,
                            field: "code",
                            problem: "missing",
                        });
                    }
                };
                let message = string(&mut obj, "message")?;
                Self::Error {
                    cid,
                    code,
                    message,
                    data: obj.remove("data"),
                }
            }
            _ => Self::Notification {
                event: string(&mut obj, "e")?,
                data: obj.remove("d"),
            },
        })
    }

    /// The JSON object.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("t".into(), self.t().to_string().into());
        match self {
            Self::Request {
                method,
                params,
                cid,
            } => {
                obj.insert("m".into(), method.clone().into());
                if let Some(p) = params {
                    obj.insert("p".into(), p.clone());
                }
                obj.insert("cid".into(), cid.to_hex().into());
            }
            Self::Response { cid, result } => {
                obj.insert("cid".into(), cid.to_hex().into());
                if let Some(r) = result {
                    obj.insert("result".into(), r.clone());
                }
            }
            Self::Error {
                cid,
                code,
                message,
                data,
            } => {
                obj.insert("cid".into(), cid.to_hex().into());
                obj.insert("code".into(), (*code).into());
                obj.insert("message".into(), message.clone().into());
                if let Some(d) = data {
                    obj.insert("data".into(), d.clone());
                }
            }
            Self::Notification { event, data } => {
                obj.insert("e".into(), event.clone().into());
                if let Some(d) = data {
                    obj.insert("d".into(), d.clone());
                }
            }
        }
        Value::Object(obj)
    }

    /// The JSON encoding.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subject_rules() {
        let cid = FrameId([0; 16]);
        let req = Envelope::request("m", None, cid).encode();
        assert_eq!(
            Envelope::decode("event", &req).unwrap_err().code(),
            WireCode::EnvelopeMismatch
        );
        assert_eq!(
            Envelope::decode("stream", &req).unwrap_err().code(),
            WireCode::UnsupportedFeature
        );
        assert_eq!(Envelope::decode("app/x", b"not json"), Ok(None));
        assert_eq!(
            Envelope::decode("rpc/x", &req).unwrap_err().code(),
            WireCode::ProtocolViolation
        );
    }

    #[test]
    fn required_fields() {
        for (doc, field) in [
            (
                json!({"t":"r","cid":"00000000000000000000000000000000"}),
                "m",
            ),
            (json!({"t":"r","m":"x"}), "cid"),
            (
                json!({"t":"E","cid":"00000000000000000000000000000000","message":"m"}),
                "code",
            ),
            (
                json!({"t":"E","cid":"00000000000000000000000000000000","code":1}),
                "message",
            ),
            (json!({"t":"N"}), "e"),
        ] {
            let e = Envelope::parse(doc.to_string().as_bytes()).unwrap_err();
            assert!(
                matches!(e, RpcError::Field { field: f, .. } if f == field),
                "{doc}: {e}"
            );
            assert_eq!(e.code(), WireCode::InvalidEnvelope);
        }
        let upper = json!({"t":"R","cid":"ABCDEF00000000000000000000000000"});
        assert!(matches!(
            Envelope::parse(upper.to_string().as_bytes()),
            Err(RpcError::Cid(_))
        ));
    }
}
