//! Sensor readings (milestone 2): what a device's message means on top of the chat echo.
//!
//! `HELLO <name>` names the device. A bare number or word (`23.5`, `open`) is a reading of key
//! `value`; `key=value` pairs separated by spaces, commas or semicolons are a reading of those
//! keys; a flat JSON object is too. `ts=<unix ms>` (or `"ts"` in JSON) is the device's own
//! timestamp. Anything else is plain chat. Pure, bounded work: no I/O, no clock.

use std::fmt;

/// One value of a reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent (always finite).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// Anything else.
    Text(String),
}

/// A parsed reading: its values, in the order sent, and the device's timestamp if it gave one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The device's own timestamp, unix milliseconds.
    pub ts: Option<i64>,
    /// Key and value pairs; keys are unique.
    pub values: Vec<(String, Value)>,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Text(v) => f.write_str(v),
        }
    }
}

impl Value {
    /// The value's kind as stored and shown: `int`, `float`, `bool` or `text`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Text(_) => "text",
        }
    }
}
