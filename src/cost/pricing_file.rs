//! Loading the pricing table: the embedded defaults, a user's partial file
//! merged over them, range checks, and errors that name file, key and line.

use std::path::Path;

use super::error::CostError;
use super::figure::Figure;
use super::pricing::{NodePricing, Pricing, PricingOverride};

/// The default pricing file (AWS us-east-1, USD), embedded at build time.
pub const DEFAULT_PRICING_TOML: &str = include_str!("../../pricing/aws-us-east-1.toml");

const DEFAULTS_ORIGIN: &str = "pricing/aws-us-east-1.toml (built in)";
const NODE_PRICE_UNIT: &str = "USD per node-hour";
const NODE_MEMORY_UNIT: &str = "GiB";

impl Pricing {
    /// The built-in table: every figure of `pricing/aws-us-east-1.toml`.
    pub fn defaults() -> Self {
        Self::parse_complete(DEFAULT_PRICING_TOML, DEFAULTS_ORIGIN)
            .expect("the built-in pricing file parses; a unit test guards it")
    }

    /// A complete table (every figure with unit, source and date), as the
    /// built-in file is written.
    ///
    /// # Errors
    /// [`CostError::Parse`] for bad TOML, unknown or missing keys;
    /// [`CostError::Invalid`] for values out of range.
    pub fn parse_complete(text: &str, origin: &str) -> Result<Self, CostError> {
        let pricing: Pricing = toml::from_str(text).map_err(|e| parse_error(origin, text, &e))?;
        pricing.validate(origin)?;
        Ok(pricing)
    }

    /// The defaults with the pricing file at `path` merged over them.
    ///
    /// # Errors
    /// [`CostError::Read`] when the file cannot be read, else as
    /// [`Pricing::with_override`].
    pub fn from_file(path: &Path) -> Result<Self, CostError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| CostError::Read { path: path.to_owned(), source })?;
        Self::defaults().with_override(&text, &path.display().to_string())
    }

    /// This table with `text` (any subset of the pricing file's keys) merged
    /// over it. A figure may be a bare number or a table `{ value, unit?,
    /// source?, as_of?, note? }`; without `source` it is credited to `origin`.
    /// New node types need both `redis_oss_hour_usd` and `maxmemory_gib`.
    ///
    /// # Errors
    /// [`CostError::Parse`] for bad TOML or unknown keys (with key and line),
    /// [`CostError::Invalid`] for out-of-range values or a changed unit,
    /// [`CostError::Missing`] for a new node type without both figures.
    pub fn with_override(self, text: &str, origin: &str) -> Result<Self, CostError> {
        let over: PricingOverride = toml::from_str(text).map_err(|e| parse_error(origin, text, &e))?;
        self.merge(over, origin).map_err(|e| with_line(e, text))
    }

    fn merge(mut self, over: PricingOverride, origin: &str) -> Result<Self, CostError> {
        if let Some(m) = over.meta {
            self.meta.region = m.region.unwrap_or(self.meta.region);
            self.meta.currency = m.currency.unwrap_or(self.meta.currency);
            self.meta.description = m.description.unwrap_or(self.meta.description);
        }
        if let Some(o) = over.billing {
            self.billing.apply(o, origin, "billing")?;
        }
        if let Some(o) = over.lambda {
            self.lambda.apply(o, origin, "lambda")?;
        }
        if let Some(o) = over.elasticache {
            self.elasticache.apply(o, origin, "elasticache")?;
        }
        for (name, o) in over.elasticache_nodes {
            let section = format!("elasticache_nodes.\"{name}\"");
            if let Some(node) = self.elasticache_nodes.get_mut(&name) {
                node.apply(o, origin, &section)?;
                continue;
            }
            let missing = |field: &str| CostError::Missing {
                origin: origin.to_owned(),
                line: None,
                key: format!("{section}.{field}"),
                why: "a node type not in the defaults needs both `redis_oss_hour_usd` and `maxmemory_gib`"
                    .to_owned(),
            };
            let price = o.redis_oss_hour_usd.ok_or_else(|| missing("redis_oss_hour_usd"))?;
            let memory = o.maxmemory_gib.ok_or_else(|| missing("maxmemory_gib"))?;
            let node = NodePricing {
                redis_oss_hour_usd: price.into_figure(
                    NODE_PRICE_UNIT,
                    origin,
                    &format!("{section}.redis_oss_hour_usd"),
                )?,
                maxmemory_gib: memory.into_figure(
                    NODE_MEMORY_UNIT,
                    origin,
                    &format!("{section}.maxmemory_gib"),
                )?,
            };
            self.elasticache_nodes.insert(name, node);
        }
        if let Some(o) = over.dynamodb {
            self.dynamodb.apply(o, origin, "dynamodb")?;
        }
        if let Some(o) = over.nat {
            self.nat.apply(o, origin, "nat")?;
        }
        if let Some(o) = over.transfer {
            self.transfer.apply(o, origin, "transfer")?;
        }
        if let Some(o) = over.stripe {
            self.stripe.apply(o, origin, "stripe")?;
        }
        self.validate(origin)?;
        Ok(self)
    }

    fn validate(&self, origin: &str) -> Result<(), CostError> {
        for (key, figure) in self.figures() {
            check_range(origin, &key, figure)?;
        }
        Ok(())
    }
}

fn check_range(origin: &str, key: &str, figure: &Figure) -> Result<(), CostError> {
    let v = figure.value;
    let field = key.rsplit('.').next().unwrap_or(key);
    let (ok, allowed) = match field {
        "target_utilisation" => (v > 0.0 && v <= 1.0, "a fraction in (0, 1]"),
        "reserved_memory_percent" => ((0.0..100.0).contains(&v), "a percentage in [0, 100)"),
        "fragmentation_ratio" => (v >= 1.0, "a ratio >= 1"),
        "hours_per_month"
        | "maxmemory_gib"
        | "live_calls_per_s"
        | "test_calls_per_s"
        | "valkey_node_price_factor" => (v > 0.0, "a number > 0"),
        _ => (v >= 0.0, "a number >= 0"),
    };
    if ok && v.is_finite() {
        return Ok(());
    }
    Err(CostError::Invalid {
        origin: origin.to_owned(),
        line: None,
        key: format!("{key}.value"),
        value: v.to_string(),
        why: format!("must be {allowed} (unit: {})", figure.unit),
    })
}

/// `err` with the line of its key in `text` filled in, when it can be found.
fn with_line(mut err: CostError, text: &str) -> CostError {
    if let CostError::Invalid { key, line, .. } | CostError::Missing { key, line, .. } = &mut err {
        *line = line_of_key(text, key);
    }
    err
}

/// The 1-based line that sets the figure `key` names (`section.figure[.field]`,
/// where a section may be a quoted node type): `figure = ...` or a
/// `[section.figure]` header, searched from the node type's table if any.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let (start, rest) = match key.split_once('"').and_then(|(_, r)| r.split_once('"')) {
        Some((node, rest)) => (lines.iter().position(|l| l.contains(&format!("\"{node}\"")))?, rest),
        None => (0, key),
    };
    let segments: Vec<&str> = rest.split('.').filter(|s| !s.is_empty()).collect();
    let figure = match segments.as_slice() {
        [.., figure, "value" | "unit" | "source" | "as_of" | "note"] => *figure,
        [.., figure] => *figure,
        [] => return Some(start + 1),
    };
    let found = lines[start..].iter().position(|l| {
        let l = l.trim();
        l.strip_prefix(figure).is_some_and(|r| r.trim_start().starts_with('='))
            || (l.starts_with('[') && l.ends_with(&format!(".{figure}]")))
    });
    Some(start + found.unwrap_or(0) + 1)
}

/// A toml error as a [`CostError::Parse`] with the dotted key and 1-based line.
fn parse_error(origin: &str, text: &str, err: &toml::de::Error) -> CostError {
    let line = err.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    // toml keeps the key path private but prints it as "in `a.b`" when it has
    // no input to quote.
    let mut bare = err.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    let mut key = shown
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("in `").and_then(|r| r.strip_suffix('`')))
        .map(str::to_owned);
    if let Some(field) = unknown_field(err.message()) {
        key = Some(match key {
            Some(k) if !k.ends_with(field) => format!("{k}.{field}"),
            Some(k) => k,
            None => field.to_owned(),
        });
    }
    CostError::Parse { origin: origin.to_owned(), key, line, message: err.message().trim().to_owned() }
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Pricing {
        Pricing::defaults()
    }

    #[test]
    fn every_default_figure_has_unit_source_and_date() {
        let p = defaults();
        let figures = p.figures();
        // 1 billing + 5 lambda + 11 elasticache + 6 nodes x 2 + 8 dynamodb + 2 nat + 3 transfer + 2 stripe
        assert_eq!(figures.len(), 44);
        for (key, f) in figures {
            assert!(!f.unit.trim().is_empty(), "{key} has no unit");
            assert!(!f.source.trim().is_empty(), "{key} has no source");
            assert!(!f.as_of.trim().is_empty(), "{key} has no date");
        }
    }

    #[test]
    fn defaults_carry_the_facts_sheet_figures() {
        let p = defaults();
        assert_eq!(p.dynamodb.on_demand_read_per_million_usd.value, 0.125);
        assert_eq!(p.dynamodb.on_demand_read_per_million_usd.as_of, "effective 2024-11-01 (was 0.25)");
        assert_eq!(p.dynamodb.on_demand_write_per_million_usd.value, 0.625);
        assert_eq!(p.dynamodb.provisioned_rcu_hour_usd.value, 0.00013);
        assert_eq!(p.dynamodb.provisioned_wcu_hour_usd.value, 0.00065);
        assert_eq!(p.dynamodb.target_utilisation.value, 0.70);
        assert_eq!(p.lambda.x86_64_gb_s_usd.value, 0.0000166667);
        assert!(p.lambda.x86_64_gb_s_usd.second_hand);
        assert!(!p.lambda.request_per_million_usd.second_hand);
        assert_eq!(p.nat.gateway_hour_usd.value, 0.045);
        assert_eq!(p.node("t4g.micro").unwrap().1.redis_oss_hour_usd.value, 0.016);
        assert_eq!(p.node("cache.r7g.xlarge").unwrap().1.redis_oss_hour_usd.value, 0.437);
        assert_eq!(p.billing.hours_per_month.value, 730.0);
    }

    #[test]
    fn usable_memory_matches_the_facts_sheet_table() {
        let p = defaults();
        // usable GiB column of the facts sheet
        let table = [
            ("cache.t4g.micro", 0.38),
            ("cache.t4g.small", 1.03),
            ("cache.t4g.medium", 2.32),
            ("cache.m7g.large", 4.79),
            ("cache.r7g.large", 9.80),
            ("cache.r7g.xlarge", 19.74),
        ];
        for (name, usable_gib) in table {
            let node = &p.elasticache_nodes[name];
            let got = p.node_usable_bytes(node) / (1u64 << 30) as f64;
            assert!((got - usable_gib).abs() < 0.006, "{name}: {got} GiB usable, sheet says {usable_gib}");
        }
    }

    #[test]
    fn partial_override_replaces_only_what_it_names() {
        let text = r#"
[dynamodb.on_demand_read_per_million_usd]
value = 0.1
source = "our enterprise discount"
as_of = "2027-01"

[nat]
processed_gb_usd = 0.03
"#;
        let p = defaults().with_override(text, "my-prices.toml").unwrap();
        let read = &p.dynamodb.on_demand_read_per_million_usd;
        assert_eq!(read.value, 0.1);
        assert_eq!(read.source, "our enterprise discount");
        assert_eq!(read.as_of, "2027-01");
        assert_eq!(read.unit, "USD per 1M read request units");
        let nat = &p.nat.processed_gb_usd;
        assert_eq!(nat.value, 0.03);
        assert_eq!(nat.source, "override in my-prices.toml");
        // untouched figures keep their defaults
        assert_eq!(
            p.dynamodb.on_demand_write_per_million_usd,
            defaults().dynamodb.on_demand_write_per_million_usd
        );
        assert_eq!(p.nat.gateway_hour_usd.value, 0.045);
    }

    #[test]
    fn override_can_add_a_node_type_with_both_figures() {
        let text = r#"
[elasticache_nodes."cache.r7g.2xlarge"]
redis_oss_hour_usd = 0.874
maxmemory_gib = 52.82
"#;
        let p = defaults().with_override(text, "nodes.toml").unwrap();
        let (name, node) = p.node("r7g.2xlarge").unwrap();
        assert_eq!(name, "cache.r7g.2xlarge");
        assert_eq!(node.maxmemory_gib.unit, "GiB");
        assert_eq!(node.redis_oss_hour_usd.value, 0.874);

        let half = "[elasticache_nodes.\"cache.r7g.2xlarge\"]\nredis_oss_hour_usd = 0.874\n";
        let err = defaults().with_override(half, "nodes.toml").unwrap_err();
        assert!(
            matches!(&err, CostError::Missing { key, line: Some(1), .. } if key.ends_with("maxmemory_gib")),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_rejected_naming_file_key_and_line() {
        let text = "[dynamodb]\non_demand_reed_per_million_usd = 0.1\n";
        let err = defaults().with_override(text, "bad.toml").unwrap_err();
        let CostError::Parse { origin, key, line, .. } = &err else { panic!("not a parse error: {err}") };
        assert_eq!(origin, "bad.toml");
        assert_eq!(key.as_deref(), Some("dynamodb.on_demand_reed_per_million_usd"));
        assert_eq!(*line, Some(2));
        let shown = err.to_string();
        assert!(shown.starts_with("bad.toml:2: `dynamodb.on_demand_reed_per_million_usd`"), "{shown}");
    }

    #[test]
    fn unknown_field_inside_a_figure_is_rejected() {
        let text = "[lambda.arm64_gb_s_usd]\nvalue = 0.00001\nsorce = \"typo\"\n";
        let err = defaults().with_override(text, "bad.toml").unwrap_err();
        let CostError::Parse { key, line, .. } = &err else { panic!("not a parse error: {err}") };
        assert_eq!(key.as_deref(), Some("lambda.arm64_gb_s_usd.sorce"), "{err}");
        assert_eq!(*line, Some(3), "{err}");
    }

    #[test]
    fn wrong_type_is_rejected_naming_the_key() {
        let text = "\n[nat]\ngateway_hour_usd = \"cheap\"\n";
        let err = defaults().with_override(text, "bad.toml").unwrap_err();
        let CostError::Parse { key, line, .. } = &err else { panic!("not a parse error: {err}") };
        assert_eq!(key.as_deref(), Some("nat.gateway_hour_usd"), "{err}");
        assert_eq!(*line, Some(3), "{err}");
    }

    #[test]
    fn syntax_error_gives_the_line() {
        let text = "[nat]\ngateway_hour_usd = 0.04\nprocessed_gb_usd = = 1\n";
        let err = defaults().with_override(text, "bad.toml").unwrap_err();
        assert!(matches!(err, CostError::Parse { line: Some(3), .. }), "{err}");
    }

    #[test]
    fn out_of_range_values_and_changed_units_are_rejected() {
        let err = defaults().with_override("[dynamodb]\ntarget_utilisation = 1.5\n", "u.toml").unwrap_err();
        assert!(
            matches!(&err, CostError::Invalid { key, line: Some(2), .. } if key == "dynamodb.target_utilisation.value"),
            "{err}"
        );
        let err = defaults().with_override("[nat]\ngateway_hour_usd = -1\n", "u.toml").unwrap_err();
        assert!(
            matches!(&err, CostError::Invalid { key, .. } if key == "nat.gateway_hour_usd.value"),
            "{err}"
        );
        let text = "[elasticache_nodes.\"cache.t4g.small\"]\nmaxmemory_gib = 0\n";
        let err = defaults().with_override(text, "u.toml").unwrap_err();
        assert!(
            matches!(&err, CostError::Invalid { key, line: Some(2), .. }
                if key == "elasticache_nodes.\"cache.t4g.small\".maxmemory_gib.value"),
            "{err}"
        );
        let text = "[nat.processed_gb_usd]\nvalue = 45\nunit = \"USD per TB processed\"\n";
        let err = defaults().with_override(text, "u.toml").unwrap_err();
        assert!(
            matches!(&err, CostError::Invalid { key, line: Some(1), .. } if key == "nat.processed_gb_usd.unit"),
            "{err}"
        );
    }

    #[test]
    fn a_complete_file_missing_a_figure_is_rejected() {
        let start = DEFAULT_PRICING_TOML.find("[nat.gateway_hour_usd]").unwrap();
        let end = DEFAULT_PRICING_TOML.find("[nat.processed_gb_usd]").unwrap();
        let text = format!("{}{}", &DEFAULT_PRICING_TOML[..start], &DEFAULT_PRICING_TOML[end..]);
        let err = Pricing::parse_complete(&text, "full.toml").unwrap_err();
        assert!(
            matches!(&err, CostError::Parse { message, .. } if message.contains("missing field `gateway_hour_usd`")),
            "{err}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Pricing::from_file(Path::new("/nonexistent/prices.toml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/prices.toml"), "{err}");
    }
}
