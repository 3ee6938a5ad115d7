//! Retention policies through GraphQL, in-process and over the control plane's gRPC
//! contract: a document in, the policy kept per signal and tier out, mistakes answered
//! `BAD_USER_INPUT` with the field first, stale versions `CONFLICT`.

use serde_json::{Value as J, json};

use crate::support::{Bff, Options, Shape};

const FIELDS: &str = "project version custom traces logs points tiers { tier keep } defaults { traces logs points tiers { tier keep } } spec tombstones { signal cutoff }";

fn code(v: &J) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn message(v: &J) -> &str {
    v["errors"][0]["message"].as_str().unwrap_or("")
}

async fn retention_policies_through_graphql(shape: Shape) {
    let bff = Bff::start(Options::shape(shape)).await;
    let read = format!("{{ retentionPolicy(project: \"default\") {{ {FIELDS} }} }}");
    let set = format!("mutation($spec: JSON!, $v: Int) {{ setRetentionPolicy(project: \"default\", spec: $spec, version: $v) {{ {FIELDS} }} }}");

    let fresh = bff.query(&read, json!({})).await;
    let p = &fresh["data"]["retentionPolicy"];
    assert_eq!((p["version"].as_i64(), p["custom"].as_bool(), p["traces"].as_str()), (Some(0), Some(false), Some("15d")), "{fresh}");
    assert_eq!(
        p["tiers"],
        json!([{"tier": "1m", "keep": "15d"}, {"tier": "5m", "keep": "60d"}, {"tier": "1h", "keep": "400d"}, {"tier": "1d", "keep": "1826d"}]),
        "tiers finest first"
    );

    let made = bff.query(&set, json!({"spec": {"traces": "36h", "tiers": {"1h": "730d"}}, "v": 0})).await;
    let p = &made["data"]["setRetentionPolicy"];
    assert_eq!((p["version"].as_i64(), p["custom"].as_bool(), p["traces"].as_str(), p["logs"].as_str()), (Some(1), Some(true), Some("36h"), Some("15d")), "{made}");
    assert_eq!(p["tiers"][2], json!({"tier": "1h", "keep": "730d"}));
    // The defaults stay what they were, to show next to what was set.
    assert_eq!(
        p["defaults"],
        json!({"traces": "15d", "logs": "15d", "points": "15d",
               "tiers": [{"tier": "1m", "keep": "15d"}, {"tier": "5m", "keep": "60d"}, {"tier": "1h", "keep": "400d"}, {"tier": "1d", "keep": "1826d"}]}),
        "{made}"
    );
    assert_eq!(p["spec"], json!({"traces": "36h", "tiers": {"1h": "730d"}}), "the document as set");
    assert_eq!(bff.query(&read, json!({})).await["data"]["retentionPolicy"], *p, "read back the same");

    // Mistakes name the field; a stale version is a conflict; nothing changes.
    let bad = bff.query(&set, json!({"spec": {"points": "20m"}})).await;
    assert_eq!((code(&bad), message(&bad)), ("BAD_USER_INPUT", "points: 20m is outside 1h … 3650d"), "{bad}");
    let unknown = bff.query(&set, json!({"spec": {"metrics": "3d"}})).await;
    assert_eq!(code(&unknown), "BAD_USER_INPUT", "{unknown}");
    assert!(message(&unknown).contains("unknown field `metrics`"), "{unknown}");
    let stale = bff.query(&set, json!({"spec": {"logs": "3d"}, "v": 0})).await;
    assert_eq!(code(&stale), "CONFLICT", "{stale}");
    assert_eq!(bff.query(&read, json!({})).await["data"]["retentionPolicy"]["version"], 1);

    let reset = bff.query(&format!("mutation {{ resetRetentionPolicy(project: \"default\", version: 1) {{ {FIELDS} }} }}"), json!({})).await;
    let p = &reset["data"]["resetRetentionPolicy"];
    assert_eq!((p["version"].as_i64(), p["custom"].as_bool(), p["traces"].as_str(), &p["spec"]), (Some(2), Some(false), Some("15d"), &json!({})), "{reset}");
}

crate::both_shapes!(retention_policies_through_graphql);
