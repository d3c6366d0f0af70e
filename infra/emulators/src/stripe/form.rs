//! Stripe's request encoding: `application/x-www-form-urlencoded` with bracket
//! notation for nesting (`line_items[0][price_data][currency]=eur`,
//! `expand[]=payment_intent`). Parsed into a tree so validation can address
//! parameters the way Stripe names them in errors.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Str(String),
    Map(BTreeMap<String, Param>),
    /// Only from `name[]=…`; indexed lists (`name[0]`) arrive as maps and are
    /// read as lists by [`Param::items`].
    List(Vec<Param>),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("Invalid parameter `{0}`: it is used both as a value and as an object or array.")]
    Conflict(String),
    #[error("The request body is not valid UTF-8 form data.")]
    NotUtf8,
}

impl FormError {
    pub fn param(&self) -> Option<&str> {
        match self {
            FormError::Conflict(name) => Some(name),
            FormError::NotUtf8 => None,
        }
    }
}

/// The parameters of a request: the top level is always a map.
pub type Params = BTreeMap<String, Param>;

pub fn parse(body: &[u8]) -> Result<Params, FormError> {
    // form_urlencoded replaces invalid UTF-8 silently; Stripe rejects it, and
    // so do we, rather than storing mangled names.
    if std::str::from_utf8(body).is_err() {
        return Err(FormError::NotUtf8);
    }
    let mut root = Params::new();
    for (key, value) in form_urlencoded::parse(body) {
        let path = key_path(&key);
        insert(&mut root, &path, value.into_owned(), &key)?;
    }
    Ok(root)
}

/// `a[b][0][]` → `["a", "b", "0", ""]`. A key whose brackets do not pair up
/// is taken literally, as one name.
fn key_path(key: &str) -> Vec<&str> {
    let Some(open) = key.find('[') else {
        return vec![key];
    };
    let mut path = vec![&key[..open]];
    let mut rest = &key[open..];
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return vec![key];
        };
        let Some(close) = inner.find(']') else {
            return vec![key];
        };
        path.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    path
}

fn insert(map: &mut Params, path: &[&str], value: String, key: &str) -> Result<(), FormError> {
    let conflict = || FormError::Conflict(key.to_owned());
    let (head, tail) = path.split_first().ok_or_else(conflict)?;
    if tail.is_empty() {
        // A repeated scalar key: the last one wins, as in most form parsers.
        if matches!(map.get(*head), Some(Param::Map(_) | Param::List(_))) {
            return Err(conflict());
        }
        map.insert((*head).to_owned(), Param::Str(value));
        return Ok(());
    }
    if tail[0].is_empty() {
        return push(map, head, &tail[1..], value, key);
    }
    let child = map.entry((*head).to_owned()).or_insert_with(|| Param::Map(BTreeMap::new()));
    match child {
        Param::Map(inner) => insert(inner, tail, value, key),
        _ => Err(conflict()),
    }
}

/// `name[]=v` appends; deeper paths after `[]` (`a[][b]`) are not something
/// Stripe's clients send, so they are refused rather than guessed at.
fn push(map: &mut Params, head: &str, rest: &[&str], value: String, key: &str) -> Result<(), FormError> {
    let conflict = || FormError::Conflict(key.to_owned());
    if !rest.is_empty() {
        return Err(conflict());
    }
    let child = map.entry(head.to_owned()).or_insert_with(|| Param::List(Vec::new()));
    match child {
        Param::List(items) => {
            items.push(Param::Str(value));
            Ok(())
        }
        _ => Err(conflict()),
    }
}

impl Param {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Param::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Params> {
        match self {
            Param::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The elements of an array parameter, in index order. `None` when the
    /// value is not array-like (a string, or a map with a non-numeric key).
    pub fn items(&self) -> Option<Vec<&Param>> {
        match self {
            Param::List(items) => Some(items.iter().collect()),
            Param::Map(map) => indexed(map),
            Param::Str(_) => None,
        }
    }

    /// JSON for the request log; maps indexed `0..n` show as arrays so tests
    /// can write `params["line_items"][0]`.
    pub fn to_json(&self) -> Value {
        match self {
            Param::Str(s) => Value::String(s.clone()),
            Param::List(items) => Value::Array(items.iter().map(Param::to_json).collect()),
            Param::Map(map) => match indexed(map) {
                Some(items) if !items.is_empty() => Value::Array(items.into_iter().map(Param::to_json).collect()),
                _ => params_to_json(map),
            },
        }
    }
}

pub fn params_to_json(params: &Params) -> Value {
    Value::Object(params.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// A map whose keys are exactly `0..n` (Stripe rejects gaps too).
fn indexed(map: &Params) -> Option<Vec<&Param>> {
    let mut numbered: Vec<(usize, &Param)> = Vec::with_capacity(map.len());
    for (key, value) in map {
        numbered.push((key.parse().ok()?, value));
    }
    numbered.sort_by_key(|(index, _)| *index);
    let contiguous = numbered.iter().enumerate().all(|(position, (index, _))| position == *index);
    contiguous.then(|| numbered.into_iter().map(|(_, value)| value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Param {
        Param::Str(v.to_owned())
    }

    #[test]
    fn nests_brackets_and_decodes() {
        let params = parse(b"mode=payment&line_items[0][price_data][product_data][name]=Guitar+lesson%20%26+more&line_items[0][quantity]=1&metadata[checkout_id]=abc").unwrap();
        assert_eq!(params["mode"], s("payment"));
        let items = params["line_items"].items().unwrap();
        assert_eq!(items.len(), 1);
        let name = &items[0].as_map().unwrap()["price_data"].as_map().unwrap()["product_data"].as_map().unwrap()["name"];
        assert_eq!(name, &s("Guitar lesson & more"));
        assert_eq!(params["metadata"].as_map().unwrap()["checkout_id"], s("abc"));
    }

    #[test]
    fn percent_encoded_brackets_are_brackets() {
        let params = parse(b"metadata%5Bk%5D=v").unwrap();
        assert_eq!(params["metadata"].as_map().unwrap()["k"], s("v"));
    }

    #[test]
    fn empty_brackets_append() {
        let params = parse(b"expand[]=a&expand[]=b").unwrap();
        assert_eq!(params["expand"], Param::List(vec![s("a"), s("b")]));
    }

    #[test]
    fn indices_order_numerically_and_gaps_are_not_lists() {
        let mut body = String::new();
        for i in (0..12).rev() {
            body.push_str(&format!("line_items[{i}][quantity]={i}&"));
        }
        let params = parse(body.as_bytes()).unwrap();
        let items = params["line_items"].items().unwrap();
        assert_eq!(items[10].as_map().unwrap()["quantity"], s("10"));
        let gap = parse(b"line_items[0][quantity]=1&line_items[2][quantity]=1").unwrap();
        assert!(gap["line_items"].items().is_none());
    }

    #[test]
    fn scalar_and_object_under_one_name_conflict() {
        assert_eq!(parse(b"metadata=x&metadata[a]=b"), Err(FormError::Conflict("metadata[a]".into())));
        assert_eq!(parse(b"metadata[a]=b&metadata=x"), Err(FormError::Conflict("metadata".into())));
    }

    #[test]
    fn unpaired_brackets_are_literal_names() {
        let params = parse(b"a[b=1&c]d=2").unwrap();
        assert_eq!(params["a[b"], s("1"));
        assert_eq!(params["c]d"], s("2"));
    }

    #[test]
    fn log_json_shows_indexed_maps_as_arrays() {
        let params = parse(b"line_items[0][quantity]=1&metadata[checkout_id]=c").unwrap();
        let json = params_to_json(&params);
        assert_eq!(json["line_items"][0]["quantity"], "1");
        assert_eq!(json["metadata"]["checkout_id"], "c");
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(parse(b"a=%FF\xff"), Err(FormError::NotUtf8));
    }
}
