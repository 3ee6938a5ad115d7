//! Arbitrary bytes as an alert rule, as the GraphQL mutations that save rules take it
//! (JSON): parsing, the check every saved rule passes (durations, label matchers'
//! regular expressions, templates), then what evaluation and notification do with a
//! rule that passed — matching series' labels, filling in templates, printing values.
//! Nothing may panic, and a rule the check refuses names the field at fault.

#![no_main]

use std::collections::BTreeMap;

use cloudgrid_operators::alert::rule::{RuleSpec, TemplateData, all_match, format_value, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<RuleSpec>(data) else { return };
    let checked = match spec.check() {
        Ok(checked) => checked,
        Err(e) => {
            assert!(!e.field.is_empty() && !e.message.is_empty(), "a refusal names its field: {e:?}");
            return;
        }
    };
    // Labels made of the rule's own strings, so the matchers meet values they name.
    let mut labels = BTreeMap::new();
    for m in &checked.spec.matchers {
        labels.insert(m.label.clone(), m.value.clone());
    }
    labels.extend(checked.spec.labels.clone());
    let _ = all_match(&checked.matchers, &labels);
    for m in &checked.matchers {
        let _ = m.matches(labels.get(&m.label).map(String::as_str));
        let _ = m.matches(None);
    }
    for value in [checked.spec.condition.threshold, f64::NAN, f64::INFINITY, -0.0, 1e300] {
        let data = TemplateData { rule: &checked.spec.name, severity: checked.spec.severity, value: Some(value), labels: &labels };
        for text in checked.spec.annotations.values().chain(checked.spec.labels.values()) {
            let _ = render(text, &data);
        }
        let _ = format_value(value);
        let _ = checked.spec.condition.holds(value);
    }
});
