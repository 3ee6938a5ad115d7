//! What an alert rule says, as people write it (GraphQL input, JSON export) and as the
//! dataflow evaluates it, and the checks it passes before it is saved.
//!
//! A rule selects the series of one metric by label matchers, aggregates each series
//! over a sliding window (`avg`, `sum`, `min`, `max`, `count`, `rate`, `increase`,
//! `quantile`), combines the series of each group (`group_by` labels) and compares the
//! group's value with a threshold or a band. A group whose condition holds is pending,
//! then firing once it held for `for`; it resolves once the condition stopped holding
//! for `keep_firing_for`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rollup::parse_duration;

/// Most of each list a rule holds, and the longest text it holds.
pub const MAX_MATCHERS: usize = 32;
pub const MAX_GROUP_BY: usize = 16;
pub const MAX_LABELS: usize = 32;
pub const MAX_CHANNELS: usize = 16;
pub const MAX_TEXT: usize = 4096;
/// Longest window and longest `for` / `keep_firing_for`.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);
pub const MAX_HOLD: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// The metric whose series the rule watches.
    pub metric: String,
    /// Which of its series: all of these must match.
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    /// What each series contributes over the window.
    pub aggregation: Aggregation,
    /// For `quantile`: which one, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// The sliding window each series is aggregated over: `30s`, `5m`, `1h`.
    pub window: String,
    /// Series with the same values of these labels form one alert (none: one alert for
    /// all the series).
    #[serde(default)]
    pub group_by: Vec<String>,
    pub condition: Condition,
    /// How long the condition must hold before the alert fires (`0s`: at once).
    #[serde(default = "zero", rename = "for")]
    pub for_: String,
    /// How long a firing alert stays firing after the condition stopped holding.
    #[serde(default = "zero")]
    pub keep_firing_for: String,
    #[serde(default)]
    pub no_data: NoData,
    #[serde(default)]
    pub severity: Severity,
    /// Added to every alert of the rule; values may use templates (see [`render`]).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Text for people (`summary`, `description`, `runbook_url`), with templates.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Notification channels (ids) told of each transition.
    #[serde(default)]
    pub channels: Vec<String>,
}

fn enabled() -> bool {
    true
}

fn zero() -> String {
    "0s".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~`, the regular expression matching the whole value.
    Re,
    /// `!~`
    NotRe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    Avg,
    Sum,
    Min,
    Max,
    Count,
    /// Per second, of a counter (a monotonic sum).
    Rate,
    /// Over the window, of a counter.
    Increase,
    /// Of a histogram's distribution over the window.
    Quantile,
}

impl Aggregation {
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Avg => "avg",
            Aggregation::Sum => "sum",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Count => "count",
            Aggregation::Rate => "rate",
            Aggregation::Increase => "increase",
            Aggregation::Quantile => "quantile",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    pub op: CompareOp,
    pub threshold: f64,
    /// The band's upper bound, for `outside` and `inside` (`threshold` is the lower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
    /// Below `threshold` or above `upper`.
    Outside,
    /// From `threshold` to `upper`, both included.
    Inside,
}

impl Condition {
    /// Whether `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        let (t, u) = (self.threshold, self.upper.unwrap_or(self.threshold));
        match self.op {
            CompareOp::Gt => value > t,
            CompareOp::Ge => value >= t,
            CompareOp::Lt => value < t,
            CompareOp::Le => value <= t,
            CompareOp::Eq => value == t,
            CompareOp::Ne => value != t,
            CompareOp::Outside => value < t || value > u,
            CompareOp::Inside => value >= t && value <= u,
        }
    }
}

/// What a group without data in the window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NoData {
    /// Fine: a firing alert resolves.
    #[default]
    Ok,
    /// An alert of its own: the group's data went missing (its labels kept).
    Alerting,
    /// Whatever it was before.
    KeepState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A rule that passed [`RuleSpec::check`]: its durations parsed, its expressions compiled.
#[derive(Debug, Clone)]
pub struct CheckedRule {
    pub spec: RuleSpec,
    pub window: Duration,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub matchers: Vec<CompiledMatcher>,
}

#[derive(Debug, Clone)]
pub struct CompiledMatcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    /// For `re` and `not_re`: anchored at both ends.
    pub regex: Option<regex::Regex>,
}

impl CompiledMatcher {
    /// Whether a series whose `label` is `value` (absent: empty) matches.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Ne => v != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRe => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// A rule that cannot be saved: the field at fault, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

fn fail<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, RuleError> {
    Err(RuleError { field: field.into(), message: message.into() })
}

/// A label name as OpenTelemetry attributes spell them: letters, digits, `_`, `.`, `-`,
/// `/`, not starting with a digit.
fn label_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

fn text_ok(field: &str, text: &str) -> Result<(), RuleError> {
    if text.len() > MAX_TEXT {
        return fail(field, format!("at most {MAX_TEXT} bytes, got {}", text.len()));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return fail(field, "control characters are not allowed");
    }
    Ok(())
}

fn duration(field: &str, text: &str, max: Duration) -> Result<Duration, RuleError> {
    let Some(d) = parse_duration(text) else {
        return fail(field, format!("`{text}` is not a duration: a whole number and s, m, h or d (`30s`, `5m`)"));
    };
    if d > max {
        return fail(field, format!("at most {}h, got `{text}`", max.as_secs() / 3600));
    }
    Ok(d)
}

impl RuleSpec {
    /// Checks everything a person can get wrong; the error names the field.
    pub fn check(&self) -> Result<CheckedRule, RuleError> {
        let name = self.name.trim();
        if name.is_empty() {
            return fail("name", "a rule needs a name");
        }
        if name.len() > 200 {
            return fail("name", "at most 200 bytes");
        }
        text_ok("name", &self.name)?;
        if self.metric.trim().is_empty() {
            return fail("metric", "name the metric the rule watches");
        }
        text_ok("metric", &self.metric)?;
        if self.matchers.len() > MAX_MATCHERS {
            return fail("matchers", format!("at most {MAX_MATCHERS}"));
        }
        let matchers = compile_matchers(&self.matchers)?;
        match (self.aggregation, self.quantile) {
            (Aggregation::Quantile, None) => return fail("quantile", "`quantile` aggregation needs the quantile, in [0, 1]"),
            (Aggregation::Quantile, Some(q)) if !(0.0..=1.0).contains(&q) => {
                return fail("quantile", format!("must be in [0, 1], got {q}"));
            }
            (Aggregation::Quantile, Some(_)) => {}
            (other, Some(_)) => return fail("quantile", format!("only the `quantile` aggregation takes one, not `{}`", other.name())),
            (_, None) => {}
        }
        let window = duration("window", &self.window, MAX_WINDOW)?;
        if window.is_zero() {
            return fail("window", "must be longer than 0s");
        }
        if self.group_by.len() > MAX_GROUP_BY {
            return fail("groupBy", format!("at most {MAX_GROUP_BY} labels"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, l) in self.group_by.iter().enumerate() {
            if !label_name_ok(l) {
                return fail(format!("groupBy[{i}]"), format!("`{l}` is not a label name"));
            }
            if !seen.insert(l) {
                return fail(format!("groupBy[{i}]"), format!("`{l}` is listed twice"));
            }
        }
        let c = &self.condition;
        if !c.threshold.is_finite() {
            return fail("condition.threshold", "must be a finite number");
        }
        match (c.op, c.upper) {
            (CompareOp::Outside | CompareOp::Inside, None) => {
                return fail("condition.upper", "a band (`outside`, `inside`) needs its upper bound");
            }
            (CompareOp::Outside | CompareOp::Inside, Some(u)) if !u.is_finite() || u < c.threshold => {
                return fail("condition.upper", format!("must be a finite number at or above the threshold {}", c.threshold));
            }
            (CompareOp::Outside | CompareOp::Inside, Some(_)) => {}
            (_, Some(_)) => return fail("condition.upper", "only a band (`outside`, `inside`) takes an upper bound"),
            (_, None) => {}
        }
        let for_ = duration("for", &self.for_, MAX_HOLD)?;
        let keep_firing_for = duration("keepFiringFor", &self.keep_firing_for, MAX_HOLD)?;
        if self.labels.len() > MAX_LABELS {
            return fail("labels", format!("at most {MAX_LABELS}"));
        }
        for (k, v) in &self.labels {
            if !label_name_ok(k) {
                return fail(format!("labels.{k}"), "not a label name");
            }
            text_ok(&format!("labels.{k}"), v)?;
            check_template(&format!("labels.{k}"), v)?;
        }
        if self.annotations.len() > MAX_LABELS {
            return fail("annotations", format!("at most {MAX_LABELS}"));
        }
        for (k, v) in &self.annotations {
            if !label_name_ok(k) {
                return fail(format!("annotations.{k}"), "not a name");
            }
            text_ok(&format!("annotations.{k}"), v)?;
            check_template(&format!("annotations.{k}"), v)?;
        }
        if self.channels.len() > MAX_CHANNELS {
            return fail("channels", format!("at most {MAX_CHANNELS}"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, id) in self.channels.iter().enumerate() {
            if id.trim().is_empty() || !seen.insert(id) {
                return fail(format!("channels[{i}]"), "channel ids must be present and listed once");
            }
        }
        Ok(CheckedRule { spec: self.clone(), window, for_, keep_firing_for, matchers })
    }
}

/// Checks and compiles label matchers (a rule's, a silence's); errors name
/// `matchers[i].label` or `.value`.
pub fn compile_matchers(matchers: &[Matcher]) -> Result<Vec<CompiledMatcher>, RuleError> {
    let mut out = Vec::with_capacity(matchers.len());
    for (i, m) in matchers.iter().enumerate() {
        let field = format!("matchers[{i}]");
        if !label_name_ok(&m.label) {
            return fail(format!("{field}.label"), format!("`{}` is not a label name", m.label));
        }
        text_ok(&format!("{field}.value"), &m.value)?;
        let regex = match m.op {
            MatchOp::Re | MatchOp::NotRe => match regex::RegexBuilder::new(&format!("^(?:{})$", m.value)).size_limit(1 << 20).build() {
                Ok(r) => Some(r),
                Err(e) => return fail(format!("{field}.value"), format!("not a regular expression: {e}")),
            },
            _ => None,
        };
        out.push(CompiledMatcher { label: m.label.clone(), op: m.op, value: m.value.clone(), regex });
    }
    Ok(out)
}

/// Whether every matcher matches the labels.
pub fn all_match(matchers: &[CompiledMatcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.label).map(String::as_str)))
}

/// One piece of a template: text, or what `{{ … }}` refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Value,
    Label(&'a str),
    Rule,
    Severity,
}

/// Splits a template; `{{ $value }}`, `{{ $labels.NAME }}`, `{{ $rule }}` and
/// `{{ $severity }}` are what it may refer to.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { return Err("`{{` without its `}}`".into()) };
        let inner = after[..close].trim();
        out.push(match inner {
            "$value" => Piece::Value,
            "$rule" => Piece::Rule,
            "$severity" => Piece::Severity,
            _ => match inner.strip_prefix("$labels.") {
                Some(l) if label_name_ok(l) => Piece::Label(l),
                _ => {
                    return Err(format!(
                        "`{{{{ {inner} }}}}`: a template refers to $value, $rule, $severity or $labels.NAME"
                    ));
                }
            },
        });
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

fn check_template(field: &str, text: &str) -> Result<(), RuleError> {
    pieces(text).map(drop).map_err(|message| RuleError { field: field.into(), message })
}

/// What a template is filled in with.
pub struct TemplateData<'a> {
    pub rule: &'a str,
    pub severity: Severity,
    pub value: Option<f64>,
    pub labels: &'a BTreeMap<String, String>,
}

/// Fills in a template that passed the rule's check (an unchecked one comes out as it is).
/// A label the alert does not have is empty; a missing value is `no data`.
pub fn render(text: &str, data: &TemplateData<'_>) -> String {
    let Ok(pieces) = pieces(text) else { return text.to_string() };
    let mut out = String::with_capacity(text.len());
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Value => match data.value {
                Some(v) => out.push_str(&format_value(v)),
                None => out.push_str("no data"),
            },
            Piece::Label(l) => out.push_str(data.labels.get(l).map_or("", String::as_str)),
            Piece::Rule => out.push_str(data.rule),
            Piece::Severity => out.push_str(data.severity.name()),
        }
    }
    out
}

/// A value as people read it: whole numbers without a fraction, others to 6 significant
/// digits.
pub fn format_value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.is_finite() {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> RuleSpec {
        serde_json::from_value(serde_json::json!({
            "name": "High latency",
            "metric": "http.server.duration",
            "matchers": [{"label": "service.name", "op": "eq", "value": "checkout"}],
            "aggregation": "avg",
            "window": "5m",
            "groupBy": ["service.name"],
            "condition": {"op": "gt", "threshold": 250.0},
            "for": "2m",
            "annotations": {"summary": "{{ $labels.service.name }} is slow: {{ $value }} ms"}
        }))
        .expect("rule")
    }

    #[test]
    fn a_sound_rule_passes_with_its_durations_parsed() {
        let checked = rule().check().expect("valid");
        assert_eq!(checked.window, Duration::from_secs(300));
        assert_eq!(checked.for_, Duration::from_secs(120));
        assert_eq!(checked.keep_firing_for, Duration::ZERO);
        assert!(checked.spec.enabled);
        assert_eq!(checked.spec.severity, Severity::Warning);
        assert_eq!(checked.spec.no_data, NoData::Ok);
    }

    #[test]
    fn each_mistake_names_its_field() {
        type Breaks = Box<dyn Fn(&mut RuleSpec)>;
        let cases: Vec<(Breaks, &str)> = vec![
            (Box::new(|r| r.name = " ".into()), "name"),
            (Box::new(|r| r.metric = String::new()), "metric"),
            (Box::new(|r| r.window = "5 minutes".into()), "window"),
            (Box::new(|r| r.window = "0s".into()), "window"),
            (Box::new(|r| r.window = "2d".into()), "window"),
            (Box::new(|r| r.for_ = "-1m".into()), "for"),
            (Box::new(|r| r.keep_firing_for = "8d".into()), "keepFiringFor"),
            (Box::new(|r| r.matchers[0].label = "1abc".into()), "matchers[0].label"),
            (
                Box::new(|r| {
                    r.matchers[0].op = MatchOp::Re;
                    r.matchers[0].value = "(unclosed".into();
                }),
                "matchers[0].value",
            ),
            (Box::new(|r| r.aggregation = Aggregation::Quantile), "quantile"),
            (Box::new(|r| r.quantile = Some(0.5)), "quantile"),
            (
                Box::new(|r| {
                    r.aggregation = Aggregation::Quantile;
                    r.quantile = Some(1.5);
                }),
                "quantile",
            ),
            (Box::new(|r| r.group_by.push("service.name".into())), "groupBy[1]"),
            (Box::new(|r| r.condition.threshold = f64::NAN), "condition.threshold"),
            (Box::new(|r| r.condition.op = CompareOp::Outside), "condition.upper"),
            (
                Box::new(|r| {
                    r.condition.op = CompareOp::Inside;
                    r.condition.upper = Some(1.0);
                }),
                "condition.upper",
            ),
            (Box::new(|r| r.condition.upper = Some(500.0)), "condition.upper"),
            (Box::new(|r| {
                r.annotations.insert("summary".into(), "{{ $labels }}".into());
            }), "annotations.summary"),
            (Box::new(|r| {
                r.annotations.insert("summary".into(), "{{ $value ".into());
            }), "annotations.summary"),
            (Box::new(|r| {
                r.labels.insert("team".into(), "a\u{0}b".into());
            }), "labels.team"),
            (Box::new(|r| r.channels = vec!["c1".into(), "c1".into()]), "channels[1]"),
        ];
        for (i, (break_it, field)) in cases.into_iter().enumerate() {
            let mut r = rule();
            break_it(&mut r);
            let e = r.check().expect_err(&format!("case {i} ({field}) is refused"));
            assert_eq!(e.field, field, "case {i}: {e}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_when_read() {
        let e = serde_json::from_value::<RuleSpec>(serde_json::json!({
            "name": "x", "metric": "m", "aggregation": "avg", "window": "1m",
            "condition": {"op": "gt", "threshold": 1}, "treshold": 2
        }))
        .expect_err("a misspelt field");
        assert!(e.to_string().contains("treshold"), "{e}");
    }

    #[test]
    fn conditions_compare_as_written() {
        let c = |op, upper| Condition { op, threshold: 10.0, upper };
        assert!(c(CompareOp::Gt, None).holds(10.5) && !c(CompareOp::Gt, None).holds(10.0));
        assert!(c(CompareOp::Ge, None).holds(10.0));
        assert!(c(CompareOp::Lt, None).holds(9.0) && !c(CompareOp::Lt, None).holds(10.0));
        assert!(c(CompareOp::Le, None).holds(10.0));
        assert!(c(CompareOp::Eq, None).holds(10.0) && c(CompareOp::Ne, None).holds(11.0));
        let band = |op| c(op, Some(20.0));
        assert!(band(CompareOp::Outside).holds(9.9) && band(CompareOp::Outside).holds(20.1));
        assert!(!band(CompareOp::Outside).holds(10.0) && !band(CompareOp::Outside).holds(20.0));
        assert!(band(CompareOp::Inside).holds(10.0) && band(CompareOp::Inside).holds(20.0) && !band(CompareOp::Inside).holds(21.0));
    }

    #[test]
    fn matchers_match_whole_values() {
        let checked = {
            let mut r = rule();
            r.matchers = vec![
                Matcher { label: "route".into(), op: MatchOp::Re, value: "/api/.*".into() },
                Matcher { label: "env".into(), op: MatchOp::NotRe, value: "dev|test".into() },
            ];
            r.check().expect("valid")
        };
        assert!(checked.matchers[0].matches(Some("/api/orders")));
        assert!(!checked.matchers[0].matches(Some("/v2/api/orders")), "anchored at the start");
        assert!(checked.matchers[1].matches(Some("prod")));
        assert!(!checked.matchers[1].matches(Some("dev")));
        assert!(checked.matchers[1].matches(None), "an absent label is the empty value");
    }

    #[test]
    fn templates_fill_in_labels_value_rule_and_severity() {
        let labels: BTreeMap<String, String> = [("service.name".to_string(), "checkout".to_string())].into();
        let data = TemplateData { rule: "High latency", severity: Severity::Critical, value: Some(312.5), labels: &labels };
        let text = "[{{ $severity }}] {{$rule}}: {{ $labels.service.name }} at {{ $value }} ms ({{ $labels.missing }})";
        assert_eq!(render(text, &data), "[critical] High latency: checkout at 312.5 ms ()");
        assert_eq!(render("{{ $value }}", &TemplateData { value: None, ..data }), "no data");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.1 + 0.2), "0.3");
    }
}
