//! Why a pricing file or a usage record could not be turned into a cost, each
//! with what to do about it.

use std::path::PathBuf;

/// A cost-model failure. Messages name the file, the key and (where known) the line.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// A pricing file could not be read.
    #[error(
        "cannot read pricing file {path}: {source}. Check the path, or omit it to use the built-in defaults"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A pricing file is not valid TOML or does not match the pricing schema
    /// (unknown key, wrong type, missing field).
    #[error("{origin}{}: {}: {message}. {}", line_suffix(.line), key_label(.key), PRICING_HINT)]
    Parse {
        /// The file (or `built-in defaults`).
        origin: String,
        /// The dotted key the error is about, when known.
        key: Option<String>,
        /// The 1-based line, when the parser gave a position.
        line: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// A figure is present but its value is not allowed (negative price,
    /// utilisation outside (0, 1], unit changed, ...).
    #[error("{origin}{}: `{key}` = {value}: {why}", line_suffix(.line))]
    Invalid {
        /// The file (or `built-in defaults`).
        origin: String,
        /// The 1-based line, when it could be found.
        line: Option<usize>,
        /// The dotted key.
        key: String,
        /// The rejected value.
        value: String,
        /// What is allowed.
        why: String,
    },
    /// A figure the model needs is missing (only possible for a node type an
    /// override file adds without both its figures).
    #[error("{origin}{}: `{key}` is missing; {why}", line_suffix(.line))]
    Missing {
        /// The file.
        origin: String,
        /// The 1-based line of the table that lacks it, when it could be found.
        line: Option<usize>,
        /// The dotted key.
        key: String,
        /// What to add.
        why: String,
    },
    /// A deployment names an ElastiCache node type the pricing table does not have.
    #[error(
        "unknown ElastiCache node type `{node_type}`; known: {known}. Add it under [elasticache_nodes] in a pricing file"
    )]
    UnknownNodeType {
        /// The type asked for.
        node_type: String,
        /// The types the pricing table has.
        known: String,
    },
    /// A usage record is inconsistent (zero duration, zero AZs, ...).
    #[error("usage `{field}`: {why}")]
    Usage {
        /// The field.
        field: &'static str,
        /// What is wrong and what is allowed.
        why: String,
    },
}

const PRICING_HINT: &str = "See pricing/aws-us-east-1.toml for every key and its shape";

fn line_suffix(line: &Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

fn key_label(key: &Option<String>) -> String {
    key.as_ref().map_or_else(|| "invalid pricing file".to_owned(), |k| format!("`{k}`"))
}
