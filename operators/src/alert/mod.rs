//! Alerts: rules as people write them ([`rule`]), checked before they are saved, and
//! their evaluation as points arrive ([`eval`]), and what a rule would have done over
//! past data ([`preview`]).

pub mod eval;
pub mod preview;
pub mod rule;

pub use rule::{
    Aggregation, CheckedRule, CompareOp, CompiledMatcher, Condition, MatchOp, Matcher, NoData, RuleError, RuleSpec, Severity,
    TemplateData, render,
};
