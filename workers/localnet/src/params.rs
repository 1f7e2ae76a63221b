//! Positional JSON-RPC parameters. Solana's methods take `[required...,
//! optional config]` arrays; this module turns the raw `params` into typed
//! values, with -32602 errors that name the parameter that was wrong.

use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde::de::DeserializeOwned;
use serde_json::Value;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;

use crate::error::{invalid_params, RpcResult};

pub(crate) struct Args {
    values: Vec<Value>,
}

impl Args {
    /// Absent and `null` params mean no arguments; anything but an array is
    /// refused, as Solana's positional methods do.
    pub(crate) fn parse(params: &Params) -> RpcResult<Args> {
        let Some(raw) = params.as_str() else {
            return Ok(Args { values: Vec::new() });
        };
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Array(values)) => Ok(Args { values }),
            Ok(Value::Null) => Ok(Args { values: Vec::new() }),
            Ok(_) => Err(invalid_params(
                "Invalid params: expected an array of positional parameters",
            )),
            Err(e) => Err(invalid_params(format!("Invalid params: {e}."))),
        }
    }

    /// Refuses trailing arguments the method does not take.
    pub(crate) fn at_most(&self, count: usize) -> RpcResult<&Self> {
        if self.values.len() > count {
            return Err(invalid_params(format!(
                "Invalid params: expected at most {count} parameter(s), got {}.",
                self.values.len()
            )));
        }
        Ok(self)
    }

    pub(crate) fn required<T: DeserializeOwned>(&self, index: usize, name: &str) -> RpcResult<T> {
        match self.values.get(index) {
            None | Some(Value::Null) => Err(invalid_params(format!(
                "Invalid params: missing required parameter `{name}` (position {index})."
            ))),
            Some(v) => decode(v, name),
        }
    }

    /// A trailing optional argument: missing and `null` are both `None`.
    pub(crate) fn optional<T: DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
    ) -> RpcResult<Option<T>> {
        match self.values.get(index) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => decode(v, name).map(Some),
        }
    }

    /// The optional config object, or its default.
    pub(crate) fn config<T: DeserializeOwned + Default>(&self, index: usize) -> RpcResult<T> {
        Ok(self.optional(index, "config")?.unwrap_or_default())
    }
}

fn decode<T: DeserializeOwned>(value: &Value, name: &str) -> RpcResult<T> {
    T::deserialize(value).map_err(|e| invalid_params(format!("Invalid params: `{name}`: {e}.")))
}

/// Base58 addresses, with Solana's message on failure ("Invalid param: WrongSize").
pub(crate) fn pubkey(s: &str) -> Result<Pubkey, ErrorObjectOwned> {
    s.parse()
        .map_err(|e| invalid_params(format!("Invalid param: {e:?}")))
}

pub(crate) fn signature(s: &str) -> Result<Signature, ErrorObjectOwned> {
    s.parse()
        .map_err(|e| invalid_params(format!("Invalid param: {e:?}")))
}

pub(crate) fn hash(s: &str) -> Result<Hash, ErrorObjectOwned> {
    s.parse()
        .map_err(|e| invalid_params(format!("Invalid param: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> RpcResult<Args> {
        let raw = v.to_string();
        Args::parse(&Params::new(Some(&raw)))
    }

    #[test]
    fn positional_arguments_and_their_errors() {
        assert_eq!(Args::parse(&Params::new(None)).unwrap().values.len(), 0);
        assert_eq!(args(json!(null)).unwrap().values.len(), 0);
        let err = args(json!({"a": 1})).err().unwrap();
        assert_eq!(err.code(), -32602);

        let a = args(json!(["x", null])).unwrap();
        assert_eq!(a.required::<String>(0, "pubkey").unwrap(), "x");
        assert_eq!(a.optional::<u64>(1, "config").unwrap(), None);
        assert_eq!(a.optional::<u64>(5, "config").unwrap(), None);
        let err = a.required::<u64>(0, "lamports").unwrap_err();
        assert_eq!(
            err.message(),
            "Invalid params: `lamports`: invalid type: string \"x\", expected u64."
        );
        let err = a.required::<u64>(1, "lamports").unwrap_err();
        assert!(err
            .message()
            .contains("missing required parameter `lamports`"));
        assert!(a.at_most(2).is_ok());
        assert!(a.at_most(1).is_err());
    }

    #[test]
    fn keys_and_signatures_fail_with_solanas_messages() {
        assert_eq!(
            pubkey("abc").unwrap_err().message(),
            "Invalid param: WrongSize"
        );
        assert_eq!(
            pubkey("0000000000000000000000000000000000000000000")
                .unwrap_err()
                .message(),
            "Invalid param: Invalid"
        );
        assert!(signature("xyz")
            .unwrap_err()
            .message()
            .starts_with("Invalid param:"));
        assert!(hash(&Hash::new_unique().to_string()).is_ok());
    }
}
